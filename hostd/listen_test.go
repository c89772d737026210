package hostd_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/nslab/nslab/hostdconfig"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/nstest"
	"github.com/nslab/nslab/netns/probe"
)

// hostd serves the API on each -H of its configuration besides the lab's
// socket: another unix socket (a host's /var/run/docker.sock) and TCP, in
// its host's network namespace (seed 000's -H tcp://0.0.0.0:2375). With an
// exec root it pins each container's namespace under Docker's key, as
// dockerd's /var/run/docker/netns/<first 12 digits of the sandbox id>.
func TestHostsAndSandboxKeys(t *testing.T) {
	var second, execRoot string
	h := startHostdWith(t, func(c *hostdconfig.Config) {
		second, execRoot = filepath.Join(c.Root, "second.sock"), filepath.Join(c.Root, "exec")
		c.Hosts = []string{"unix://" + second, "tcp://127.0.0.1:2375"}
		c.ExecRoot = execRoot
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for what, dial := range map[string]func(context.Context, string, string) (net.Conn, error){
		"unix " + second: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", second)
		},
		"tcp 127.0.0.1:2375 in the host": func(ctx context.Context, _, _ string) (net.Conn, error) {
			return probe.DialContext(ctx, h.nsPath, "tcp", "127.0.0.1:2375")
		},
	} {
		c := &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://hostd/_ping", nil)
		resp, err := c.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /_ping on %s: %v %v", what, resp, err)
		}
		resp.Body.Close()
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:2375", time.Second); err == nil {
		c.Close()
		t.Fatal("hostd's TCP listener answers in the machine's namespace")
	}

	if _, err := h.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: "k1", Config: &container.Config{Image: "alpine", Cmd: []string{"sleep", "60"}},
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.cli.ContainerStart(ctx, "k1", client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	ins, err := h.cli.ContainerInspect(ctx, "k1", client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns := ins.Container.NetworkSettings
	key := filepath.Join(execRoot, "netns", ns.SandboxID[:12])
	if ns.SandboxKey != key {
		t.Fatalf("SandboxKey %s, want %s", ns.SandboxKey, key)
	}
	if a, err := netns.Inode(key); err != nil || a != nstest.Inode(t, h.pin("k1")) {
		t.Fatalf("%s is not the container's namespace (%v)", key, err)
	}
	if _, err := h.cli.ContainerRemove(ctx, "k1", client.ContainerRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(key); !os.IsNotExist(err) {
		t.Fatalf("%s left after rm: %v", key, err)
	}
}
