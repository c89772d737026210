package kvpartition_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/labtest"

	"example.com/kvpartition/kv"
)

// kvd runs on node1, in a container; the test's client talks to it from
// node2, across the router. Partitioned, by a firewall rule in the router
// or by unplugging node1's cable, the client's requests time out; healed,
// the client reconnects and finds its data.
func TestPartition(t *testing.T) {
	l := labtest.Up(t, "testdata/routed.yaml")
	node1, node2, router := l.Host("node1"), l.Host("node2"), l.Host("router")
	g := NewWithT(t)

	// kvd, built statically, is bound into the container read-only at the
	// path it has here: the container's command runs it from there.
	kvd := buildKVD(t)
	t.Logf("kvd is bound into the container with -v %s:%s:ro", kvd, kvd)
	runKVD(t, node1.Docker(), kvd)
	g.Expect(node2).To(labtest.ReachTCP("192.168.1.10:7000").Within(20 * time.Second))

	c := &kv.Client{
		Dial: func(ctx context.Context) (net.Conn, error) {
			return node2.DialContext(ctx, "tcp", "192.168.1.10:7000")
		},
		Timeout: time.Second,
	}
	defer c.Close()
	ctx := t.Context()
	g.Expect(c.Set(ctx, "greeting", "hello")).To(Succeed())

	drop := "FORWARD -s 192.168.2.0/24 -d 192.168.1.0/24 -j DROP"
	for i, p := range []struct {
		name        string
		split, heal func()
	}{
		{"a firewall rule in the router",
			func() { router.Sh("iptables -I " + drop) },
			func() { router.Sh("iptables -D " + drop) }},
		{"node1's cable unplugged",
			func() { g.Expect(node1.SetLink(ctx, "eth1", false)).To(Succeed()) },
			func() { g.Expect(node1.SetLink(ctx, "eth1", true)).To(Succeed()) }},
	} {
		t.Logf("partition: %s", p.name)
		p.split()
		_, _, err := c.Get(ctx, "greeting")
		g.Expect(err).To(MatchError(os.ErrDeadlineExceeded), "a request across the partition")
		g.Expect(node2).NotTo(labtest.ReachTCP("192.168.1.10:7000").Within(labtest.SilenceTimeout))

		p.heal()
		// The path needs a moment to carry again (a cable plugged back in:
		// carrier, then ARP), as a client that retries finds.
		var v string
		var ok bool
		g.Eventually(func() (err error) {
			v, ok, err = c.Get(ctx, "greeting")
			return err
		}).WithTimeout(10*time.Second).Should(Succeed(), "after the partition heals")
		g.Expect(ok).To(BeTrue())
		g.Expect(v).To(Equal("hello"))
		g.Expect(c.Dials()).To(Equal(i+2), "the client reconnected")
	}
}

// buildKVD builds cmd/kvd statically (the container has no C library of
// the machine's) into the test's temporary directory.
func buildKVD(t *testing.T) string {
	out := filepath.Join(t.TempDir(), "kvd")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", out, "./cmd/kvd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/kvd: %v\n%s", err, b)
	}
	return out
}

// runKVD starts kvd in a container "kv1" on the host of cli, publishing
// port 7000 on the host's 7000: docker run -d -v KVD:KVD:ro -p 7000:7000
// busybox KVD.
func runKVD(t *testing.T, cli *client.Client, kvd string) {
	ctx := t.Context()
	port := network.MustParsePort("7000/tcp")
	c, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: "kv1",
		Config: &container.Config{
			Image:        "busybox",
			Cmd:          []string{kvd},
			ExposedPorts: network.PortSet{port: {}},
		},
		HostConfig: &container.HostConfig{
			Binds:        []string{kvd + ":" + kvd + ":ro"},
			PortBindings: network.PortMap{port: {{HostPort: "7000"}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
}
