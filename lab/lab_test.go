package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

func upLab(t *testing.T, topo *Topology, o Options) *Lab {
	t.Helper()
	if o.Root == "" {
		o.Root = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := Up(ctx, topo, o)
	if err != nil {
		t.Fatal(err)
	}
	takeDown(t, l)
	return l
}

// testClient is a client of the host's daemon, closed when the test ends.
func testClient(t testing.TB, h *Host) *client.Client {
	t.Helper()
	c, err := h.DockerClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// orphan gives l an owner that dies at once, as an `nslab up` killed with
// SIGKILL would: GC then takes l for an orphan. The owner still lives when
// SetOwner reads its start time.
func orphan(t *testing.T, l *Lab) {
	t.Helper()
	owner := exec.Command("sleep", "60")
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		owner.Process.Kill()
		owner.Wait()
	}()
	if err := l.SetOwner(owner.Process.Pid); err != nil {
		t.Fatal(err)
	}
}

// takeDown takes l down when the test ends, or before, when the test calls
// the function it returns to check what down leaves behind; a down that
// fails fails the test.
func takeDown(t *testing.T, l *Lab) (down func()) {
	var once sync.Once
	down = func() {
		once.Do(func() {
			if err := l.Down(context.Background()); err != nil {
				t.Errorf("down: %v", err)
			}
		})
	}
	t.Cleanup(down)
	return down
}

// linksOf dumps the links of a namespace by name.
func linksOf(t *testing.T, pin string) (map[string]netlink.Link, *netlink.Handle) {
	t.Helper()
	h, err := netns.Handle(pin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	ls, err := netns.LinkList(h)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]netlink.Link{}
	for _, l := range ls {
		m[l.Attrs().Name] = l
	}
	return m, h
}

func sysctlIn(t *testing.T, pin, key string) string {
	t.Helper()
	v, err := kernel.Sysctl(pin, key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestUpPlainHosts(t *testing.T) {
	requireRoot(t)
	before := rootSnapshot(t)
	topo := plainTopology(3)
	topo.Hosts[0].Forwarding = true
	topo.Hosts[0].Interfaces[0].MAC = "02:00:00:00:00:01"
	topo.Hosts[2].Routes = []RouteSpec{{To: netip.MustParsePrefix("10.50.0.0/16"), Via: netip.MustParseAddr("10.99.0.2")}}
	var progress bytes.Buffer
	root := t.TempDir()
	ctx := context.Background()
	l, err := Up(ctx, topo, Options{Root: root, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Down(ctx)
	id := l.ID()
	if !strings.HasPrefix(id, "nsl") || !idRE.MatchString(id) {
		t.Errorf("id %q", id)
	}
	if !strings.Contains(progress.String(), "hosts 3/3") {
		t.Errorf("progress:\n%s", progress.String())
	}

	t.Run("fabric", func(t *testing.T) {
		fabric := netns.Path(id + "-fabric")
		links, _ := linksOf(t, fabric)
		br, ok := links["lan0"]
		if !ok || br.Type() != "bridge" || br.Attrs().Flags&net.FlagUp == 0 {
			t.Fatalf("bridge lan0: %+v", br)
		}
		var ports []string
		for name, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index {
				if l.Type() != "veth" || l.Attrs().Flags&net.FlagUp == 0 {
					t.Errorf("port %s: type %s flags %v", name, l.Type(), l.Attrs().Flags)
				}
				ports = append(ports, name)
			}
		}
		slices.Sort(ports)
		if want := []string{"h0i0", "h1i0", "h2i0"}; !slices.Equal(ports, want) {
			t.Errorf("ports of lan0: %v, want %v", ports, want)
		}
		// STP off: ports forward at once. netlink does not report it; ip does.
		out, err := exec.Command("ip", "netns", "exec", id+"-fabric", "ip", "-d", "-j", "link", "show", "lan0").Output()
		if err != nil {
			t.Fatal(err)
		}
		var info []struct {
			Linkinfo struct {
				InfoData struct {
					StpState int `json:"stp_state"`
				} `json:"info_data"`
			} `json:"linkinfo"`
		}
		if err := json.Unmarshal(out, &info); err != nil || len(info) != 1 || info[0].Linkinfo.InfoData.StpState != 0 {
			t.Errorf("stp: %s (%v)", out, err)
		}
		for _, dev := range []string{"default", "lan0", "h0i0"} {
			if v := sysctlIn(t, fabric, "net/ipv6/conf/"+dev+"/disable_ipv6"); v != "1" {
				t.Errorf("fabric: %s disable_ipv6 = %s", dev, v)
			}
		}
		// Where br_netfilter is loaded, the fabric's bridges bypass netfilter.
		if _, err := os.Stat("/proc/sys/net/bridge"); err == nil {
			if v := sysctlIn(t, fabric, "net/bridge/bridge-nf-call-iptables"); v != "0" {
				t.Errorf("fabric: bridge-nf-call-iptables = %s", v)
			}
		}
	})

	t.Run("hosts", func(t *testing.T) {
		for i, h := range l.Hosts() {
			links, nh := linksOf(t, h.NetNS())
			eth1, ok := links["eth1"]
			if !ok || eth1.Type() != "veth" || eth1.Attrs().Flags&net.FlagUp == 0 {
				t.Fatalf("%s: eth1: %+v", h.Name, eth1)
			}
			if len(links) != 2 {
				t.Errorf("%s: links %v, want lo and eth1", h.Name, links)
			}
			addrs, err := netns.AddrList(nh, eth1, netlink.FAMILY_ALL)
			if err != nil {
				t.Fatal(err)
			}
			want := topo.Hosts[i].Interfaces[0].Address.String()
			if len(addrs) != 1 || addrs[0].IPNet.String() != want {
				t.Errorf("%s: eth1 addresses %v, want only %s (no IPv6)", h.Name, addrs, want)
			}
			routes, err := netns.RouteList(nh, nil, netlink.FAMILY_V4)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range routes {
				s := r.Dst.String()
				if r.Gw != nil {
					s += " via " + r.Gw.String()
				}
				got = append(got, s)
			}
			slices.Sort(got)
			wantRoutes := []string{"10.99.0.0/16"}
			if i == 2 {
				wantRoutes = []string{"10.50.0.0/16 via 10.99.0.2", "10.99.0.0/16"}
			}
			if !slices.Equal(got, wantRoutes) {
				t.Errorf("%s: routes %v, want %v", h.Name, got, wantRoutes)
			}
			fwd := map[int]string{0: "1", 1: "0", 2: "0"}[i]
			if v := sysctlIn(t, h.NetNS(), "net/ipv4/ip_forward"); v != fwd {
				t.Errorf("%s: ip_forward = %s, want %s", h.Name, v, fwd)
			}
			for _, dev := range []string{"default", "eth1"} {
				if v := sysctlIn(t, h.NetNS(), "net/ipv6/conf/"+dev+"/disable_ipv6"); v != "1" {
					t.Errorf("%s: %s disable_ipv6 = %s", h.Name, dev, v)
				}
			}
		}
		links, _ := linksOf(t, l.Hosts()[0].NetNS())
		if mac := links["eth1"].Attrs().HardwareAddr.String(); mac != "02:00:00:00:00:01" {
			t.Errorf("h1 eth1 mac %s", mac)
		}
	})

	t.Run("ping through the fabric", func(t *testing.T) {
		out, err := exec.Command("ip", "netns", "exec", id+"-h1", "ping", "-c1", "-W2", "10.99.0.4").CombinedOutput()
		if err != nil {
			t.Fatalf("ping h1 -> h3: %v\n%s", err, out)
		}
		h2, err := l.Host("h2")
		if err != nil {
			t.Fatal(err)
		}
		r, err := h2.Exec(ctx, "ping", "-c1", "-W2", "10.99.0.2")
		if err != nil || r.ExitCode != 0 {
			t.Fatalf("ping h2 -> h1 via Exec: %v %+v", err, r)
		}
		// A path that does not exist fails: nothing answers 10.99.0.200.
		r, err = h2.Exec(ctx, "ping", "-c1", "-W1", "10.99.0.200")
		if err != nil || r.ExitCode == 0 {
			t.Fatalf("ping to nobody: %v %+v", err, r)
		}
	})

	t.Run("exec", func(t *testing.T) {
		h, _ := l.Host("h3")
		r, err := h.Exec(ctx, "sh", "-c", "echo out; echo err >&2; exit 3")
		if err != nil || r.ExitCode != 3 || r.Stdout != "out\n" || r.Stderr != "err\n" {
			t.Fatalf("got %+v %v", r, err)
		}
		// The command runs in the host's namespace: it sees eth1.
		r, err = h.Exec(ctx, "cat", "/proc/net/dev")
		if err != nil || !strings.Contains(r.Stdout, "eth1:") {
			t.Fatalf("got %+v %v", r, err)
		}
		if _, err := h.Exec(ctx); err == nil {
			t.Error("empty argv accepted")
		}
		if _, err := l.Host("nope"); err == nil {
			t.Error("unknown host accepted")
		}
		if h.Socket() != "" || h.DockerHost() != "" || h.HostdPID() != 0 {
			t.Errorf("plain host has a daemon: %q %q %d", h.Socket(), h.DockerHost(), h.HostdPID())
		}
	})

	t.Run("describe", func(t *testing.T) {
		d, err := l.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Fabric.Bridges) != 1 || d.Fabric.Bridges[0].Name != "lan0" || !slices.Equal(d.Fabric.Bridges[0].Ports, []string{"h0i0", "h1i0", "h2i0"}) {
			t.Errorf("fabric: %+v", d.Fabric)
		}
		if len(d.Hosts) != 3 {
			t.Fatalf("hosts: %+v", d.Hosts)
		}
		h3 := d.Hosts[2]
		ino, _ := netns.Inode(l.Hosts()[2].NetNS())
		if h3.Inode != ino || h3.NetNS != netns.Path(id+"-h3") {
			t.Errorf("h3: %+v", h3)
		}
		i := slices.IndexFunc(h3.Links, func(l LinkDescription) bool { return l.Name == "eth1" })
		if i < 0 || !h3.Links[i].Up || !slices.Equal(h3.Links[i].Addrs, []string{"10.99.0.4/16"}) || h3.Links[i].Kind != "veth" {
			t.Errorf("h3 links: %+v", h3.Links)
		}
		j := slices.IndexFunc(h3.Routes, func(r RouteDescription) bool { return r.Dst == "10.50.0.0/16" })
		if j < 0 || h3.Routes[j].Gw != "10.99.0.2" || h3.Routes[j].Dev != "eth1" {
			t.Errorf("h3 routes: %+v", h3.Routes)
		}
		if _, err := json.Marshal(d); err != nil {
			t.Error(err)
		}
	})

	t.Run("list and open", func(t *testing.T) {
		sums, err := List(root)
		if err != nil || len(sums) != 1 {
			t.Fatalf("%v %+v", err, sums)
		}
		s := sums[0]
		if s.ID != id || !s.Alive || s.State != StateUp || s.Owner != os.Getpid() || !slices.Equal(s.Hosts, []string{"h1", "h2", "h3"}) {
			t.Errorf("summary %+v", s)
		}
		o, err := Open(root, id)
		if err != nil {
			t.Fatal(err)
		}
		h, err := o.Host("h2")
		if err != nil || h.NetNS() != netns.Path(id+"-h2") || o.StateDir() != filepath.Join(root, id) {
			t.Fatalf("opened: %v %v", h, err)
		}
		if _, err := Open(root, "nosuch"); err == nil {
			t.Error("opened a lab that does not exist")
		}
	})

	t.Run("state and data directories are tmpfs mounts of their own", func(t *testing.T) {
		for _, dir := range []string{l.StateDir(), dataDir(DefaultDataRoot, id)} {
			var st unix.Statfs_t
			if err := unix.Statfs(dir, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
				t.Errorf("%s: filesystem %#x (%v), want a tmpfs", dir, st.Type, err)
			}
			if m := mountsUnder(t, dir); !slices.Contains(m, dir) {
				t.Errorf("%s is not a mount point: %v", dir, m)
			}
		}
	})

	if err := l.Down(ctx); err != nil {
		t.Fatal(err)
	}
	requireGone(t, id, l.StateDir())
	if err := l.Down(ctx); err != nil {
		t.Fatalf("second down: %v", err)
	}
	requireRootUnchanged(t, before)
}

// Two labs from the same topology run side by side: every name carries
// the lab id, and each lab's segment is its own.
func TestTwoLabsSideBySide(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	topo := plainTopology(2)
	a := upLab(t, topo, Options{Root: root})
	b := upLab(t, topo, Options{Root: root})
	if a.ID() == b.ID() {
		t.Fatal("same id twice")
	}
	for _, l := range []*Lab{a, b} {
		r, err := l.Hosts()[0].Exec(context.Background(), "ping", "-c1", "-W2", "10.99.0.3")
		if err != nil || r.ExitCode != 0 {
			t.Fatalf("lab %s: ping: %v %+v", l.ID(), err, r)
		}
	}
	ia, _ := netns.Inode(a.Hosts()[0].NetNS())
	ib, _ := netns.Inode(b.Hosts()[0].NetNS())
	if ia == ib || ia == 0 {
		t.Fatalf("inodes %d %d", ia, ib)
	}
	// A lab with an id in use is refused, and the running one is untouched.
	if _, err := Up(context.Background(), topo, Options{Root: root, ID: a.ID()}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("reused id: %v", err)
	}
	if _, err := os.Stat(a.Hosts()[0].NetNS()); err != nil {
		t.Fatalf("lab a damaged: %v", err)
	}
	if err := a.Down(context.Background()); err != nil {
		t.Fatal(err)
	}
	requireGone(t, a.ID(), a.StateDir())
	if r, err := b.Hosts()[1].Exec(context.Background(), "ping", "-c1", "-W2", "10.99.0.2"); err != nil || r.ExitCode != 0 {
		t.Fatalf("lab b after a's down: %v %+v", err, r)
	}
}

func TestGC(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	ctx := context.Background()

	// Owner gone: a child made owner, then killed.
	dead := upLab(t, plainTopology(2), Options{Root: root})
	orphan(t, dead)

	// A lab SIGKILLed in the middle of Up: lab.json says "starting", the
	// owner pid runs but is another process (its start time differs), a
	// namespace exists and a process lives in it.
	crashed := "gcx" + dead.ID()[3:]
	crashedDir := filepath.Join(root, crashed)
	if err := os.Mkdir(crashedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Its recorded hostd pid is now some unrelated process outside the
	// lab (a reused pid): teardown must leave that one alone.
	bystander := exec.Command("sleep", "60")
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { bystander.Process.Kill(); bystander.Wait() }()
	start, _ := procStart(os.Getpid())
	st := &labState{ID: crashed, Topology: plainTopology(1), Owner: os.Getpid(), OwnerStart: start + 1, Created: time.Now(), State: StateStarting,
		HostdPIDs: map[string]int{"h1": bystander.Process.Pid}}
	if err := writeState(crashedDir, st); err != nil {
		t.Fatal(err)
	}
	pin, err := netns.NewNamed(crashed + "-h1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(pin) })
	sleeper := exec.Command("sleep", "60")
	if err := netns.StartIn(pin, sleeper); err != nil {
		t.Fatal(err)
	}
	sleeperDone := make(chan error, 1)
	go func() { sleeperDone <- sleeper.Wait() }()

	// Owner alive (this process): survives, up or still starting.
	alive := upLab(t, plainTopology(2), Options{Root: root})
	starting := "gcs" + dead.ID()[3:]
	startingDir := filepath.Join(root, starting)
	if err := os.Mkdir(startingDir, 0o755); err != nil {
		t.Fatal(err)
	}
	st = &labState{ID: starting, Topology: plainTopology(1), Owner: os.Getpid(), OwnerStart: start, Created: time.Now(), State: StateStarting}
	if err := writeState(startingDir, st); err != nil {
		t.Fatal(err)
	}
	startingPin, err := netns.NewNamed(starting + "-fabric")
	if err != nil {
		t.Fatal(err)
	}
	defer teardown(ctx, startingDir, "", starting, nil, true, nil)

	removed, err := GC(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{dead.ID(), crashed}
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Fatalf("GC removed %v, want %v", removed, want)
	}
	requireGone(t, dead.ID(), dead.StateDir())
	requireGone(t, crashed, crashedDir)
	select {
	case <-sleeperDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the process inside the crashed lab was not killed")
	}
	if _, err := os.Stat(alive.Hosts()[0].NetNS()); err != nil {
		t.Fatalf("GC touched a live lab: %v", err)
	}
	if _, err := os.Stat(startingPin); err != nil {
		t.Fatalf("GC touched a starting lab whose owner lives: %v", err)
	}
	if _, ok := procStart(bystander.Process.Pid); !ok {
		t.Fatal("GC killed a process outside the lab through a stale hostd pid")
	}
	sums, err := List(root)
	// Sorted by id: "gcs..." before "nsl...".
	if err != nil || len(sums) != 2 || sums[1].ID != alive.ID() || !sums[1].Alive || sums[0].ID != starting || sums[0].State != StateStarting {
		t.Fatalf("after GC: %v %+v", err, sums)
	}
	if removed, err := GC(ctx, root); err != nil || len(removed) != 0 {
		t.Fatalf("second GC: %v %v", removed, err)
	}
}

func withDocker(topo *Topology) *Topology {
	topo.Hosts = append(topo.Hosts, HostSpec{
		Name: "d1", Kind: KindDocker,
		Interfaces: []InterfaceSpec{{Segment: "lan0", Address: netip.MustParsePrefix("10.99.9.1/16")}},
	})
	return topo
}

// A hostd that never says it listens makes Up fail and leaves nothing
// behind.
func TestUpFailingHalfway(t *testing.T) {
	requireRoot(t)
	before := rootSnapshot(t)
	root := t.TempDir()
	cases := []struct {
		name, binary, want string
		// hostdTimeout for the case: the lab's own wait for a hostd, not
		// Up's context, so that the steps before it take what they take.
		hostdTimeout time.Duration
	}{
		{"hostd exits", "/bin/false", "hostd exited before listening", hostdTimeout},
		{"hostd hangs", filepath.Join(root, "hang.sh"), "hostd did not listen on", 2 * time.Second},
	}
	if err := os.WriteFile(cases[1].binary, []byte("#!/bin/sh\necho hanging\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := "tfail" + string(rune('a'+i))
			defer func(was time.Duration) { hostdTimeout = was }(hostdTimeout)
			hostdTimeout = c.hostdTimeout
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			l, err := Up(ctx, withDocker(plainTopology(3)), Options{Root: root, ID: id, Hostd: c.binary})
			if err == nil {
				l.Down(context.Background())
				t.Fatal("up succeeded")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "host d1") {
				t.Fatalf("error: %v", err)
			}
			if i == 1 && !strings.Contains(err.Error(), "hanging") {
				t.Errorf("error lacks the log tail: %v", err)
			}
			requireGone(t, id, filepath.Join(root, id))
		})
	}
	requireRootUnchanged(t, before)
}

// Docker hosts: hostd is started per the contract, in the host's network
// namespace and its own UTS namespace; the topology's containers are made
// through its API; Down stops it; a fresh Open sees and removes it all.
func TestDockerHostLifecycle(t *testing.T) {
	requireRoot(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeHostdEnv, "1")
	topo := withDocker(plainTopology(1))
	topo.Hosts[1].DNS = []netip.Addr{netip.MustParseAddr("10.99.0.2")}
	topo.Hosts[1].Containers = []ContainerSpec{
		{Name: "cm06", Network: "container:cm01", Command: []string{"sleep", "infinity"}},
		{Name: "cm01", Image: "busybox", Network: "none"},
	}
	root := t.TempDir()
	ctx := context.Background()
	l, err := Up(ctx, topo, Options{Root: root, Hostd: exe})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Down(ctx)
	d1, _ := l.Host("d1")
	pid := d1.HostdPID()
	if pid <= 0 || d1.Socket() != filepath.Join(root, l.ID(), "d1", "docker.sock") || d1.DockerHost() != "unix://"+d1.Socket() {
		t.Fatalf("d1: pid %d socket %q", pid, d1.Socket())
	}
	if d1.ContainerNetNS("cm01") != "/run/netns/"+l.ID()+"-d1-cm01" {
		t.Errorf("container netns %s", d1.ContainerNetNS("cm01"))
	}
	// hostd runs in the host's network namespace, not in ours, and has its
	// own UTS namespace.
	hostIno, _ := netns.Inode(d1.NetNS())
	procIno, _ := netns.Inode("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if hostIno != procIno {
		t.Errorf("hostd net ns %d, host %d", procIno, hostIno)
	}
	ourUTS, _ := netns.Inode("/proc/self/ns/uts")
	hostdUTS, _ := netns.Inode("/proc/" + strconv.Itoa(pid) + "/ns/uts")
	if ourUTS == hostdUTS {
		t.Error("hostd shares our UTS namespace")
	}
	r, err := d1.Exec(ctx, "hostname")
	if err != nil || strings.TrimSpace(r.Stdout) != "d1" {
		t.Errorf("hostname in d1: %+v %v", r, err)
	}
	var cfg map[string]any
	b, _ := os.ReadFile(filepath.Join(root, l.ID(), "d1", "hostd.json"))
	json.Unmarshal(b, &cfg)
	if cfg["lab"] != l.ID() || cfg["host"] != "d1" || cfg["netnsPrefix"] != l.ID()+"-d1-" || cfg["socket"] != d1.Socket() {
		t.Errorf("hostd.json: %s", b)
	}
	if dns, _ := cfg["dns"].([]any); len(dns) != 1 || dns[0] != "10.99.0.2" {
		t.Errorf("hostd.json dns: %s", b)
	}
	// cm01 first: cm06 joins its namespace.
	reqs, _ := os.ReadFile(filepath.Join(root, l.ID(), "d1", "requests.jsonl"))
	lines := strings.Split(strings.TrimSpace(string(reqs)), "\n")
	if len(lines) != 4 {
		t.Fatalf("requests:\n%s", reqs)
	}
	var first struct {
		URI  string
		Body map[string]any
	}
	json.Unmarshal([]byte(lines[0]), &first)
	hc, _ := first.Body["HostConfig"].(map[string]any)
	if first.URI != "/v1.41/containers/create?name=cm01" || first.Body["Image"] != "busybox" || hc["NetworkMode"] != "none" ||
		first.Body["OpenStdin"] != true || first.Body["Tty"] != false {
		t.Errorf("first request: %s", lines[0])
	}
	if !strings.Contains(lines[1], `"/v1.41/containers/id-cm01/start"`) || !strings.Contains(lines[2], `"container:cm01"`) ||
		!strings.Contains(lines[2], `["sleep","infinity"]`) || !strings.Contains(lines[2], `"Image":"alpine"`) {
		t.Errorf("requests:\n%s", reqs)
	}
	// The plain host in the same lab reaches the docker host.
	h1, _ := l.Host("h1")
	if r, err := h1.Exec(ctx, "ping", "-c1", "-W2", "10.99.9.1"); err != nil || r.ExitCode != 0 {
		t.Errorf("ping d1: %v %+v", err, r)
	}

	// A fresh process knows the lab only from its state dir.
	o, err := Open(root, l.ID())
	if err != nil {
		t.Fatal(err)
	}
	od1, _ := o.Host("d1")
	if od1.HostdPID() != pid {
		t.Errorf("opened: hostd pid %d, want %d", od1.HostdPID(), pid)
	}
	// A shell left running in the host is killed by Down too.
	stray := d1.Command(ctx, "sleep", "60")
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	strayDone := make(chan struct{})
	go func() { stray.Wait(); close(strayDone) }()
	time.Sleep(100 * time.Millisecond) // let nsenter enter and exec
	t0 := time.Now()
	if err := o.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if time.Since(t0) > 3*time.Second {
		t.Errorf("down took %s: hostd did not exit on SIGTERM", time.Since(t0))
	}
	if _, alive := procStart(pid); alive {
		t.Error("hostd still runs")
	}
	select {
	case <-strayDone:
	case <-time.After(5 * time.Second):
		t.Error("the stray process in d1 was not killed")
	}
	requireGone(t, l.ID(), l.StateDir())
	if err := l.Down(ctx); err != nil {
		t.Fatal(err)
	}
}

// A container the daemon refuses fails Up with the daemon's message, and
// nothing is left.
func TestDockerContainerRefused(t *testing.T) {
	requireRoot(t)
	exe, _ := os.Executable()
	t.Setenv(fakeHostdEnv, "1")
	topo := withDocker(plainTopology(1))
	topo.Hosts[1].Containers = []ContainerSpec{{Name: "cm01", Image: "missing"}}
	root := t.TempDir()
	_, err := Up(context.Background(), topo, Options{Root: root, ID: "tref0", Hostd: exe})
	if !cerrdefs.IsNotFound(err) || !strings.Contains(err.Error(), "host d1: container cm01: create: Error response from daemon: No such image: missing:latest") {
		t.Fatalf("got %v", err)
	}
	requireGone(t, "tref0", filepath.Join(root, "tref0"))
}

// The lab finds nslab-hostd as it finds nslab-etcd: the path given, else
// $NSLAB_HOSTD_BIN, else next to the nslab binary ($NSLAB_BIN), next to
// this executable, on PATH; never the nslab binary itself.
func TestHostdResolution(t *testing.T) {
	dir := t.TempDir()
	nslab := filepath.Join(dir, "nslab")
	hostdBin := filepath.Join(dir, HostdBinaryName)
	for _, f := range []string{nslab, hostdBin} {
		if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("NSLAB_HOSTD_BIN", "")
	t.Setenv("PATH", t.TempDir())
	t.Setenv("NSLAB_BIN", nslab)
	if b, err := hostdProgram.find("", "", io.Discard); err != nil || b != hostdBin {
		t.Fatalf("next to $NSLAB_BIN: got %q %v", b, err)
	}
	t.Setenv("NSLAB_BIN", "")
	if b, err := hostdProgram.find("", nslab, io.Discard); err != nil || b != hostdBin {
		t.Fatalf("next to Options.Binary: got %q %v", b, err)
	}
	t.Setenv("NSLAB_HOSTD_BIN", "/bin/true")
	if b, err := hostdProgram.find("", nslab, io.Discard); err != nil || b != "/bin/true" {
		t.Fatalf("$NSLAB_HOSTD_BIN: got %q %v", b, err)
	}
	if _, err := hostdProgram.find("/etc/passwd", nslab, io.Discard); err == nil || !strings.Contains(err.Error(), "hostd program /etc/passwd: not an executable file") {
		t.Fatalf("a non-executable file: got %v", err)
	}
	// With nslab alone, Up of a docker lab fails before making anything
	// and says where it looked.
	t.Setenv("NSLAB_HOSTD_BIN", "")
	alone := filepath.Join(t.TempDir(), "nslab")
	if err := os.WriteFile(alone, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	_, err := Up(context.Background(), withDocker(plainTopology(1)), Options{Root: root, Binary: alone})
	if err == nil || !strings.Contains(err.Error(), "docker hosts run hostd, the program nslab-hostd") ||
		!strings.Contains(err.Error(), filepath.Join(filepath.Dir(alone), HostdBinaryName)) || !strings.Contains(err.Error(), "NSLAB_HOSTD_BIN") {
		t.Fatalf("up without nslab-hostd: got %v", err)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Fatalf("made %v", ents)
	}
}

// cancelOnWrite cancels a context at the first progress line that starts
// with prefix.
type cancelOnWrite struct {
	prefix string
	cancel context.CancelFunc
}

func (c cancelOnWrite) Write(p []byte) (int, error) {
	if strings.HasPrefix(string(p), c.prefix) {
		c.cancel()
	}
	return len(p), nil
}

// Cancelled while the hosts are being built: Up stops, says why, and
// removes the hosts and the fabric it had made.
func TestUpCancelledWhileBuilding(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := Options{Root: root, ID: "tcan0", Parallel: 2, Progress: cancelOnWrite{"hosts ", cancel}}
	l, err := Up(ctx, plainTopology(40), o)
	if err == nil {
		l.Down(context.Background())
		t.Fatal("up succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	requireGone(t, "tcan0", filepath.Join(root, "tcan0"))
}
