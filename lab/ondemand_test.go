package lab

import (
	"context"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/nslab/nslab/hostd/image"
	"github.com/nslab/nslab/netns"
)

// With Options.OnDemand a docker host's hostd starts at the host's first
// use, through any of its listeners or a command run in it; a host that up
// gives containers starts at up. Down takes the started and the waiting
// alike, and leaves nothing.
func TestOnDemandDaemons(t *testing.T) {
	requireRoot(t)
	topo := dockerTopology(6, 0)
	topo.Hosts[2].Containers = []ContainerSpec{{Name: "c1", Image: "alpine", Network: "none", Command: []string{"sleep", "infinity"}}}
	topo.Hosts[3].API = []string{APIUnix, "tcp://0.0.0.0:2375"}
	root := t.TempDir()
	l := upLab(t, topo, Options{Root: root, Hostd: realHostd(t), OnDemand: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := func(name string) *Host { x, _ := l.Host(name); return x }

	// Up started the daemon of h3 alone, which has a container.
	for _, n := range []string{"h1", "h2", "h4", "h5", "h6"} {
		requireNoDaemon(t, h(n))
	}
	if h("h3").HostdPID() <= 0 || !hasLink(t, h("h3"), "docker0") {
		t.Fatalf("h3 has a container: its hostd should run since up (pid %d)", h("h3").HostdPID())
	}
	// The waiting hosts' images are the lab's still.
	use, err := ImageUse(root, image.StoreDir())
	if err != nil {
		t.Fatal(err)
	}
	if !usedBy(use, l.ID()+"/h1") {
		t.Errorf("images in use: %v, want some for %s/h1, whose daemon has not started", use, l.ID())
	}

	// The lab's socket: the request that starts the daemon is answered.
	c := testClient(t, h("h1"))
	if _, err := c.Ping(ctx, client.PingOptions{}); err != nil {
		t.Fatalf("ping h1 through its socket: %v; hostd's log:\n%s", err, Tail(h("h1").logPath(), 20))
	}
	requireDaemon(t, h("h1"))

	// A command run in the host finds what its daemon made.
	r, err := h("h2").Exec(ctx, "ip", "-o", "link", "show", "docker0")
	if err != nil || r.ExitCode != 0 {
		t.Errorf("docker0 in h2 at its first command: %+v %v", r, err)
	}
	requireDaemon(t, h("h2"))

	// The topology's TCP -H, inside the host.
	if answer, err := pingInside(netns.Namespaces{Net: h("h4").NetNS()}, "tcp", "127.0.0.1:2375"); err != nil || !strings.HasSuffix(answer, "OK") {
		t.Errorf("GET /_ping on h4's tcp://0.0.0.0:2375: %q %v", answer, err)
	}
	requireDaemon(t, h("h4"))

	// The host's /var/run/docker.sock, where the docker CLI typed in the
	// host looks, without nslab's way in.
	if answer, err := pingInside(netns.Namespaces{Mnt: h("h6").MountNS()}, "unix", "/var/run/docker.sock"); err != nil || !strings.HasSuffix(answer, "OK") {
		t.Errorf("GET /_ping on h6's /var/run/docker.sock: %q %v", answer, err)
	}
	requireDaemon(t, h("h6"))

	// A lab opened from its state directory, as another process has it,
	// starts a daemon through the owner's listener; the pid is in the
	// state.
	o, err := Open(root, l.ID())
	if err != nil {
		t.Fatal(err)
	}
	oh5, _ := o.Host("h5")
	if err := oh5.Check(); err != nil {
		t.Fatalf("h5 from another lab value: %v", err)
	}
	requireDaemon(t, h("h5"))
	// lab.json itself, not hostd's pid file, which HostdPID also reads.
	// The owner writes it once hostd exists, which may be after hostd
	// answered the ping that started it.
	if pids := statePIDsWith(t, l, "h5", h("h5").HostdPID()); pids["h5"] != h("h5").HostdPID() {
		t.Errorf("h5's pid in lab.json: %v, want %d", pids, h("h5").HostdPID())
	}

	var pids []int
	for _, x := range l.Hosts() {
		pids = append(pids, x.HostdPID())
	}
	if err := l.Down(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if _, alive := procStart(pid); alive {
			t.Errorf("hostd %d outlived down", pid)
		}
	}
	requireGone(t, l.ID(), l.StateDir())
}

// Down before any use starts nothing, and takes the listeners.
func TestOnDemandUnusedDown(t *testing.T) {
	requireRoot(t)
	l := upLab(t, dockerTopology(2, 0), Options{Hostd: realHostd(t), OnDemand: true})
	h1, _ := l.Host("h1")
	if err := l.Down(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := h1.ensureDaemon(); err == nil {
		t.Error("h1's daemon started after down")
	}
	requireGone(t, l.ID(), l.StateDir())
}

// What on-demand daemons cannot go with is refused before anything is made.
func TestOnDemandRefused(t *testing.T) {
	requireRoot(t)
	for _, o := range []Options{
		{OnDemand: true, Runtime: RuntimeDockerd},
		{OnDemand: true, Resettable: true},
	} {
		o.Root = t.TempDir()
		_, err := Up(context.Background(), dockerTopology(1, 0), o)
		if err == nil || !strings.Contains(err.Error(), "on-demand") {
			t.Errorf("%+v: %v, want a refusal that names on-demand daemons", o, err)
		}
		if ents, _ := os.ReadDir(o.Root); len(ents) > 0 {
			t.Errorf("%+v: %d entries made under the state root", o, len(ents))
		}
	}
}

// statePIDsWith reads the daemons' pids from l's lab.json until host's is
// pid, for at most 10 s; it returns the last read.
func statePIDsWith(t *testing.T, l *Lab, host string, pid int) map[string]int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := readState(l.StateDir())
		if err != nil {
			t.Fatal(err)
		}
		if s.HostdPIDs[host] == pid || time.Now().After(deadline) {
			return s.HostdPIDs
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pingInside asks for /_ping at addr, dialled from a thread in ns (the
// path of a unix socket resolves in ns's mount namespace), and returns
// the whole answer.
func pingInside(ns netns.Namespaces, network, addr string) (string, error) {
	var conn net.Conn
	err := ns.Do(func() (err error) {
		conn, err = net.DialTimeout(network, addr, 5*time.Second)
		return err
	})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(conn, "GET /_ping HTTP/1.0\r\nHost: hostd\r\n\r\n")
	b, err := io.ReadAll(conn)
	return string(b), err
}

// requireNoDaemon fails unless nothing runs in h's network namespace and
// it has no docker0.
func requireNoDaemon(t *testing.T, h *Host) {
	t.Helper()
	if pid := h.HostdPID(); pid != 0 {
		t.Errorf("%s: hostd %d runs before the host was used", h.Name, pid)
	}
	ino, err := netns.Inode(h.NetNS())
	if err != nil {
		t.Fatal(err)
	}
	if ps := scanInside(map[uint64]string{ino: h.NetNS()}); len(ps) > 0 {
		t.Errorf("%s: %d processes run before the host was used (first: pid %d)", h.Name, len(ps), ps[0].pid)
	}
	if hasLink(t, h, "docker0") {
		t.Errorf("%s: docker0 before the host was used", h.Name)
	}
}

// requireDaemon fails unless h's hostd runs in the host and made docker0.
func requireDaemon(t *testing.T, h *Host) {
	t.Helper()
	pid := h.HostdPID()
	if pid <= 0 {
		t.Fatalf("%s: no hostd after the host's first use", h.Name)
	}
	hostIno, _ := netns.Inode(h.NetNS())
	if procIno, _ := netns.Inode("/proc/" + strconv.Itoa(pid) + "/ns/net"); procIno != hostIno {
		t.Errorf("%s: hostd %d is not in the host's network namespace", h.Name, pid)
	}
	if !hasLink(t, h, "docker0") {
		t.Errorf("%s: no docker0 once its daemon started", h.Name)
	}
}

func hasLink(t *testing.T, h *Host, name string) bool {
	t.Helper()
	links, _ := linksOf(t, h.NetNS())
	_, ok := links[name]
	return ok
}

func usedBy(use map[string][]string, who string) bool {
	for _, hosts := range use {
		if slices.Contains(hosts, who) {
			return true
		}
	}
	return false
}
