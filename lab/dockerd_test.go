package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

func TestDockerdArgs(t *testing.T) {
	s := dockerdSpec{
		Host: "node1", Dir: "/run/nslab/abc/node1", Socket: "/run/nslab/abc/node1/docker.sock",
		Cgroup: "/nslab-abc-node1", Bridge: netip.MustParsePrefix("172.18.0.1/16"), IPTables: true,
		ClusterStore: "etcd://192.168.8.150:2379", ClusterAdvertise: "192.168.8.150:2375",
		API: []string{APIUnix, "tcp://0.0.0.0:2375"},
	}
	got := strings.Join(s.args(), " ")
	want := "--data-root /run/nslab/abc/node1/data --exec-root /var/run/docker --containerd /var/run/docker/containerd/containerd.sock" +
		" --pidfile /run/nslab/abc/node1/dockerd.pid -H unix:///run/nslab/abc/node1/docker.sock" +
		" -H unix:///var/run/docker.sock -H tcp://0.0.0.0:2375 --tls=false" +
		" --config-file /run/nslab/abc/node1/daemon.json --storage-driver vfs --cgroup-parent /nslab-abc-node1" +
		" --iptables=true --bip 172.18.0.1/16" +
		" --cluster-store etcd://192.168.8.150:2379 --cluster-advertise 192.168.8.150:2375"
	if got != want {
		t.Errorf("args:\n got %s\nwant %s", got, want)
	}
	s.Bridge, s.ClusterStore, s.IPTables = netip.Prefix{}, "", false
	if got := strings.Join(s.args(), " "); strings.Contains(got, "--bip") || strings.Contains(got, "--cluster") || !strings.Contains(got, "--iptables=false") {
		t.Errorf("args without bridge, store and iptables: %s", got)
	}
	if got := resolvConf(nil); strings.Contains(got, "nameserver") {
		t.Errorf("resolv.conf without resolvers names one:\n%s", got)
	}
	if got := resolvConf([]netip.Addr{netip.MustParseAddr("192.168.8.1")}); got != "nameserver 192.168.8.1\n" {
		t.Errorf("resolv.conf: %q", got)
	}
	var cfg map[string]string
	b, _ := s.config()
	if err := json.Unmarshal(b, &cfg); err != nil || cfg["deprecated-key-path"] != "/run/nslab/abc/node1/key.json" {
		t.Errorf("daemon.json must keep the identity key out of /etc/docker: %s (%v)", b, err)
	}
}

// fakeDockerd writes an executable that prints what `dockerd --version`
// would, and exits with code.
func fakeDockerd(t *testing.T, dir, version string, code int) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "dockerd")
	script := fmt.Sprintf("#!/bin/sh\n[ \"$1\" = --version ] || exit 64\necho '%s'\nexit %d\n", version, code)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// FindDockerd accepts Docker 20.10 only, whatever its packaging, and
// refuses another version naming it and why.
func TestFindDockerdVersion(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []struct {
		out     string
		code    int
		refused string // the version named in the error; "" when accepted
	}{
		{"Docker version 20.10.24, build 5d6db84", 0, ""},
		{"Docker version 20.10.24+dfsg1, build 297e128", 0, ""},
		{"Docker version 20.10.5, build 55c4c88", 0, ""},
		{"Docker version 28.2.2, build e6534b4", 0, "28.2.2"},
		{"Docker version 23.0.0, build e92dd87", 0, "23.0.0"},
		{"Docker version 19.03.15, build 99e3ed8", 0, "19.03.15"},
		{"Docker version 120.10.1, build x", 0, "120.10.1"},
		{"dockerd: unknown flag", 0, "unknown (dockerd --version printed"},
		{"Docker version 20.10.24, build 5d6db84", 1, "unknown (dockerd --version: exit status 1)"},
	} {
		p := fakeDockerd(t, filepath.Join(dir, strconv.Itoa(i)), c.out, c.code)
		got, err := FindDockerd(p)
		if c.refused == "" {
			if err != nil || got != p {
				t.Errorf("%q: FindDockerd = %q, %v; want it accepted", c.out, got, err)
			}
			continue
		}
		var ve *DockerdVersionError
		if !errors.As(err, &ve) || ve.Path != p || !strings.HasPrefix(ve.Version, c.refused) {
			t.Errorf("%q: FindDockerd = %q, %v; want a DockerdVersionError naming %s", c.out, got, err, c.refused)
			continue
		}
		for _, w := range []string{p + " is Docker " + c.refused, "needs Docker Engine 20.10", "--cluster-store", "Engine 23 removed", StaticDockerDir, "NSLAB_DOCKERD"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not say %q", c.out, err, w)
			}
		}
	}
	if _, err := FindDockerd(filepath.Join(dir, "nonexistent", "dockerd")); err == nil || !strings.Contains(err.Error(), "not found at "+filepath.Join(dir, "nonexistent", "dockerd")) {
		t.Errorf("a missing dockerd must be named in the error: %v", err)
	}
}

// The order of the search: $NSLAB_DOCKERD alone when set, else the static
// binaries' directory, then PATH, skipping a dockerd of another version.
func TestFindDockerdOrder(t *testing.T) {
	dir := t.TempDir()
	static, onPath := filepath.Join(dir, "static"), filepath.Join(dir, "bin")
	old := staticDockerDir
	staticDockerDir = static
	defer func() { staticDockerDir = old }()
	t.Setenv("PATH", onPath)
	t.Setenv("NSLAB_DOCKERD", "")
	pathDockerd := fakeDockerd(t, onPath, "Docker version 20.10.24+dfsg1, build 297e128", 0)
	if c := dockerdCandidates(); len(c) < 2 || c[0] != filepath.Join(static, "dockerd") || c[1] != pathDockerd {
		t.Errorf("candidates %q: want %s/dockerd, then %s", c, static, pathDockerd)
	}
	if got, err := FindDockerd(""); err != nil || got != pathDockerd {
		t.Errorf("without static binaries: %q, %v; want %s", got, err, pathDockerd)
	}
	fakeDockerd(t, static, "Docker version 28.2.2, build e6534b4", 0)
	if got, err := FindDockerd(""); err != nil || got != pathDockerd {
		t.Errorf("static dockerd 28 before a 20.10 on PATH: %q, %v; want %s", got, err, pathDockerd)
	}
	staticDockerd := fakeDockerd(t, static, "Docker version 20.10.24, build 5d6db84", 0)
	if got, err := FindDockerd(""); err != nil || got != staticDockerd {
		t.Errorf("static dockerd 20.10: %q, %v; want it first", got, err)
	}
	other := fakeDockerd(t, filepath.Join(dir, "other"), "Docker version 28.2.2, build e6534b4", 0)
	t.Setenv("NSLAB_DOCKERD", other)
	var ve *DockerdVersionError
	if _, err := FindDockerd(""); !errors.As(err, &ve) || ve.Path != other {
		t.Errorf("NSLAB_DOCKERD of Docker 28: %v; want it refused, not another one used", err)
	}
}

// requireDockerd skips when the machine has no dockerd to run.
func requireDockerd(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	d, err := FindDockerd("")
	if err != nil {
		t.Skipf("no dockerd here: %v", err)
	}
	return d
}

// dockerdOptions runs real dockerds, which load the default image.
func dockerdOptions(t *testing.T) Options {
	return Options{Root: t.TempDir(), Runtime: RuntimeDockerd}
}

func dockerdTopology() *Topology {
	return &Topology{
		Name:     "refpair",
		Segments: []Segment{{Name: "lan0", Prefix: netip.MustParsePrefix("192.168.8.0/24")}},
		Hosts: []HostSpec{
			{Name: "node1", Kind: KindDocker,
				Interfaces: []InterfaceSpec{{Segment: "lan0", Address: netip.MustParsePrefix("192.168.8.150/24")}},
				Containers: []ContainerSpec{{Name: "cm01", Image: "alpine", Network: "bridge"}}},
			{Name: "node2", Kind: KindDocker, Bridge: netip.MustParsePrefix("172.18.0.1/16"),
				Interfaces: []InterfaceSpec{{Segment: "lan0", Address: netip.MustParsePrefix("192.168.8.148/24")}}},
		},
	}
}

// inspectPid is the pid of a container's main process, from the API.
func inspectPid(t *testing.T, h *Host, name string) int {
	t.Helper()
	c := testClient(t, h)
	r, err := c.ContainerInspect(context.Background(), name, client.ContainerInspectOptions{})
	if err != nil || r.Container.State == nil || r.Container.State.Pid <= 0 {
		t.Fatalf("host %s: inspect %s: %v", h.Name, name, err)
	}
	return r.Container.State.Pid
}

// requireNoDockerdLeft checks that nothing of the lab's daemons is left:
// processes, cgroups, mounts under the state directory.
func requireNoDockerdLeft(t *testing.T, id, dir string) {
	t.Helper()
	if ps := toolsOf(dir + "/"); len(ps) > 0 {
		t.Errorf("daemon processes left: %v", ps)
	}
	if cgs := labCgroups(id); len(cgs) > 0 {
		t.Errorf("cgroups left: %v", cgs)
	}
	if m := mountsUnder(t, dir+"/"); len(m) > 0 {
		t.Errorf("mounts left under %s: %v", dir, m)
	}
	requireGone(t, id, dir)
}

func TestDockerdLab(t *testing.T) {
	requireDockerd(t)
	before := rootSnapshot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, err := Up(ctx, dockerdTopology(), dockerdOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	id, dir := l.ID(), l.StateDir()
	down := takeDown(t, l)
	if l.Runtime() != RuntimeDockerd {
		t.Errorf("runtime %q", l.Runtime())
	}
	for _, h := range l.Hosts() {
		r, err := h.Exec(ctx, "hostname")
		if err != nil || strings.TrimSpace(r.Stdout) != h.Name {
			t.Errorf("host %s: hostname %q (%v): each dockerd needs its own", h.Name, r.Stdout, err)
		}
		pid := h.HostdPID()
		if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); strings.TrimSpace(string(comm)) != "dockerd" {
			t.Errorf("host %s: daemon pid %d is %q, not dockerd", h.Name, pid, comm)
		}
		hostIno := inodeOf(h.NetNS())
		if ino := inodeOf("/proc/" + strconv.Itoa(pid) + "/ns/net"); ino != hostIno || ino == 0 {
			t.Errorf("host %s: dockerd is not in the host's network namespace", h.Name)
		}
		out, err := exec.Command("docker", "-H", h.DockerHost(), "images", "--format", "{{.Repository}}:{{.Tag}}").Output()
		if err != nil {
			t.Fatalf("host %s: docker images: %v", h.Name, err)
		}
		if got := strings.Fields(string(out)); !slices.Contains(got, "alpine:latest") || !slices.Contains(got, "busybox:latest") {
			t.Errorf("host %s: images %v, want alpine:latest and busybox:latest", h.Name, got)
		}
		r, _ = h.Exec(ctx, "iptables-save", "-t", "nat")
		if !strings.Contains(r.Stdout, ":DOCKER - ") {
			t.Errorf("host %s: dockerd wrote no DOCKER chain in the host's nat table:\n%s", h.Name, r.Stdout)
		}
		requireDockerdTempDir(t, h)
		requireContainerdIdle(t, h)
	}
	node2, _ := l.Host("node2")
	r, _ := node2.Exec(ctx, "ip", "-4", "-o", "addr", "show", "docker0")
	if !strings.Contains(r.Stdout, "inet 172.18.0.1/16") {
		t.Errorf("node2's bridge: is dockerd's --bip: %s", r.Stdout)
	}

	node1, _ := l.Host("node1")
	pid := inspectPid(t, node1, "cm01")
	cg, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if !strings.Contains(string(cg), "/"+cgroupPrefix(id)+"node1/") {
		t.Errorf("cm01 is not in the lab's cgroup:\n%s", cg)
	}
	if cgs := labCgroups(id); len(cgs) == 0 {
		t.Errorf("no cgroup of the lab found")
	}
	resolv, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/root/etc/resolv.conf")
	if strings.Contains(string(resolv), "nameserver") && !strings.Contains(string(resolv), "8.8.8.8") {
		t.Errorf("cm01's resolv.conf names the machine's resolver:\n%s", resolv)
	}

	down()
	requireNoDockerdLeft(t, id, dir)
	requireRootUnchanged(t, before)
}

// A dockerd killed with SIGKILL leaves its containerd, shims, containers,
// cgroups; a lab whose owner died is found by GC and removed all the same.
func TestDockerdGCAfterCrash(t *testing.T) {
	requireDockerd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	topo := dockerdTopology()
	topo.Hosts = topo.Hosts[:1]
	l, err := Up(ctx, topo, dockerdOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	id, dir := l.ID(), l.StateDir()
	defer l.Down(context.Background())
	h := l.Hosts()[0]
	ctr := inspectPid(t, h, "cm01")
	if err := syscall.Kill(h.HostdPID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	orphan(t, l)
	if _, ok := procStart(ctr); !ok {
		t.Fatalf("cm01 (pid %d) died with dockerd: the test needs a container left behind", ctr)
	}
	removed, err := GC(ctx, filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, id) {
		t.Fatalf("GC removed %v, not %s", removed, id)
	}
	if _, ok := procStart(ctr); ok {
		t.Errorf("cm01 (pid %d) survived GC", ctr)
	}
	requireNoDockerdLeft(t, id, dir)
}

// requireContainerdIdle: the host's containerd, with nothing to do, hardly
// wakes: containerd 1.6's garbage-collection scheduler, paced by
// default, checks every 5 ms or so here, over 700 context switches a
// second (idleGC).
func requireContainerdIdle(t *testing.T, h *Host) {
	t.Helper()
	s, err := h.dockerdSpec()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(s.containerdPIDFile())
	if err != nil {
		t.Fatalf("host %s: containerd's pid: %v", h.Name, err)
	}
	pid := strings.TrimSpace(string(b))
	const window, most = 2 * time.Second, 50
	before := contextSwitches(t, pid)
	time.Sleep(window)
	if n := contextSwitches(t, pid) - before; n > most*int(window/time.Second) {
		t.Errorf("host %s: idle containerd (pid %s) switched context %d times in %v, want at most %d a second", h.Name, pid, n, window, most)
	}
}

// contextSwitches sums the context switches of every thread of pid.
func contextSwitches(t *testing.T, pid string) int {
	t.Helper()
	files, err := filepath.Glob("/proc/" + pid + "/task/*/status")
	if err != nil || len(files) == 0 {
		t.Fatalf("pid %s: no threads (%v)", pid, err)
	}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that ended meanwhile
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				c, _ := strconv.Atoi(strings.TrimSpace(v))
				n += c
			}
		}
	}
	return n
}
