package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/nslab/nslab/netns"
)

// machinePaths are where dockerd 20.10, and the containerd, shims and runc
// it runs, write by default outside the data root, exec root and /run a
// lab gives them: containerd's opt plugin makes /opt/containerd/bin and
// lib and puts them on its children's PATH and LD_LIBRARY_PATH; dockerd
// keeps its identity key and reads its configuration in /etc/docker;
// containerd's default root and configuration are /var/lib/containerd and
// /etc/containerd, dockerd's default data root /var/lib/docker; a client
// keeps its configuration in ~/.docker.
var machinePaths = []string{
	"/opt/containerd", "/etc/docker", "/etc/containerd",
	"/var/lib/containerd", "/var/lib/docker", "/root/.docker",
}

// machineFiles lists every file under paths with what a write changes
// (type, permissions, owner, size, modification and change times), or
// that it is absent.
func machineFiles(t *testing.T, paths []string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			var st syscall.Stat_t
			if err := syscall.Lstat(path, &st); err != nil {
				return err
			}
			out = append(out, fmt.Sprintf("%s mode=%o uid=%d gid=%d size=%d mtime=%d.%09d ctime=%d.%09d",
				path, st.Mode, st.Uid, st.Gid, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec))
			return nil
		})
		if errors.Is(err, fs.ErrNotExist) {
			out = append(out, p+" absent")
			continue
		}
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
	}
	return out
}

// shimEnvironments returns the environment of every containerd shim in
// the host's namespaces, by pid: what containerd hands its shims and runc.
func shimEnvironments(t *testing.T, h *Host) map[int][]string {
	t.Helper()
	ino, err := netns.Inode(h.NetNS())
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]string{}
	for _, p := range scanInside(map[uint64]string{ino: h.NetNS()}) {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.pid))
		if !strings.HasPrefix(string(comm), "containerd-shim") {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.pid))
		if err != nil {
			t.Fatal(err)
		}
		out[p.pid] = strings.Split(string(bytes.TrimRight(env, "\x00")), "\x00")
	}
	return out
}

// machinePathIn lists the variables of env that name one of machinePaths,
// alone or in a list (PATH, LD_LIBRARY_PATH).
func machinePathIn(env []string) []string {
	var out []string
	for _, kv := range env {
		_, v, _ := strings.Cut(kv, "=")
		for _, e := range strings.Split(v, ":") {
			for _, p := range machinePaths {
				if under(filepath.Clean(e), p) {
					out = append(out, kv)
				}
			}
		}
	}
	return out
}

// runExecRemove runs a container on the host's daemon, runs a command in
// it, stops and removes it: what a student does, through the Engine API.
func runExecRemove(ctx context.Context, t *testing.T, h *Host, check func()) {
	t.Helper()
	c := testClient(t, h)
	created, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:   "machinefiles",
		Config: &container.Config{Image: "alpine", Cmd: []string{"sleep", "600"}},
	})
	if err != nil {
		t.Fatalf("host %s: create: %v", h.Name, err)
	}
	if _, err := c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("host %s: start: %v", h.Name, err)
	}
	ex, err := c.ExecCreate(ctx, created.ID, client.ExecCreateOptions{Cmd: []string{"sh", "-c", "echo written > /written"}})
	if err != nil {
		t.Fatalf("host %s: exec create: %v", h.Name, err)
	}
	if _, err := c.ExecStart(ctx, ex.ID, client.ExecStartOptions{Detach: true}); err != nil {
		t.Fatalf("host %s: exec start: %v", h.Name, err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r, err := c.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
		// A detached start returns once the command runs.
		if err == nil && !r.Running {
			if r.ExitCode != 0 {
				t.Errorf("host %s: exec exited %d", h.Name, r.ExitCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("host %s: exec still running after 30s (%v)", h.Name, err)
		}
	}
	check()
	timeout := 1
	if _, err := c.ContainerStop(ctx, created.ID, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Errorf("host %s: stop: %v", h.Name, err)
	}
	if _, err := c.ContainerRemove(ctx, created.ID, client.ContainerRemoveOptions{}); err != nil {
		t.Errorf("host %s: remove: %v", h.Name, err)
	}
}

// A dockerd host writes none of the machine's files: not while it starts,
// runs a container, execs in it and removes it, nor when the lab goes
// down. containerd's shims, which start runc, are handed no machine
// directory to find programs or libraries in.
func TestDockerdWritesNoMachineFiles(t *testing.T) {
	requireDockerd(t)
	before := machineFiles(t, machinePaths)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	topo := dockerdTopology()
	topo.Hosts = topo.Hosts[:1]
	topo.Hosts[0].Containers = nil
	l, err := Up(ctx, topo, dockerdOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	down := takeDown(t, l)
	h := l.Hosts()[0]
	runExecRemove(ctx, t, h, func() {
		envs := shimEnvironments(t, h)
		if len(envs) == 0 {
			t.Errorf("host %s: no containerd shim found while a container runs", h.Name)
		}
		for pid, env := range envs {
			if m := machinePathIn(env); len(m) > 0 {
				t.Errorf("host %s: shim %d is handed the machine's directories: %v", h.Name, pid, m)
			}
		}
	})
	down()
	after := machineFiles(t, machinePaths)
	var diff []string
	for _, s := range before {
		if !slices.Contains(after, s) {
			diff = append(diff, "- "+s)
		}
	}
	for _, s := range after {
		if !slices.Contains(before, s) {
			diff = append(diff, "+ "+s)
		}
	}
	if len(diff) > 0 {
		t.Errorf("the machine's files changed (another session's dockerd lab may also write there):\n%s", strings.Join(diff, "\n"))
	}
}
