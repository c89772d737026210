package netimpl

import (
	"net"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns/nstest"
)

// linkPair reads a far end (name in the sandbox) and its near end (name in
// ns) back from the kernel.
func linkPair(t *testing.T, sandbox, far, ns, near string) (netlink.Link, netlink.Link) {
	t.Helper()
	return nstest.Link(t, sandbox, far), nstest.Link(t, ns, near)
}

// checkNeighbours asserts the shape of Docker's pairs: each end names the
// other as its peer, the far end has the lower index of two neighbours,
// not the 2 of a link born in a fresh namespace.
func checkNeighbours(t *testing.T, far, near netlink.Link) {
	t.Helper()
	f, n := far.Attrs(), near.Attrs()
	if f.ParentIndex != n.Index || n.ParentIndex != f.Index || n.Index != f.Index+1 || f.Index == 2 {
		t.Errorf("%s is %d@if%d, %s is %d@if%d: want neighbours, the container's end the lower", f.Name, f.Index, f.ParentIndex, n.Name, n.Index, n.ParentIndex)
	}
}

func openFD(t *testing.T, ns string) int {
	t.Helper()
	fd, err := unix.Open(ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// A bridge's pair: the host side a port of the bridge, up; the container's
// end eth0 in the sandbox with its MAC and MTU; neighbouring indexes from
// above the host's, in one request or Docker's make-and-move alike; the
// counter only grows; an index the sandbox already uses is skipped.
func TestMakeEndpointVethInHost(t *testing.T) {
	nstest.NeedRoot(t)
	mac, _ := net.ParseMAC("02:42:ac:11:00:02")
	// A host, its bridge and its socket.
	newHost := func() (string, netlink.Link, *LinkSocket) {
		host := nstest.NewNS(t, prefix, "host")
		nstest.Bridge(t, host, "docker0")
		s, err := OpenLinkSocket(host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return host, nstest.Link(t, host, "docker0"), s
	}
	host, br, s := newHost()
	moved, movedBr, movedS := newHost()
	movedS.makeAndMoveOnly = true
	var last int
	for _, way := range []struct {
		name      string
		host      string
		br        netlink.Link
		s         *LinkSocket
		takeFirst bool // the sandbox already uses the index that comes next
	}{
		{name: "one request", host: host, br: br, s: s},
		{name: "index taken in the sandbox", host: host, br: br, s: s, takeFirst: true},
		{name: "make and move", host: moved, br: movedBr, s: movedS},
	} {
		sb := nstest.NewNS(t, prefix, "sb")
		if way.takeFirst {
			s.mu.Lock()
			taken := s.next
			s.mu.Unlock()
			la := netlink.NewLinkAttrs()
			la.Name, la.Index = "x0", taken
			if err := nstest.Handle(t, sb).LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "x1"}); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		made, err := way.s.MakeEndpointVeth(EndpointVeth{Name: TempLinkName, Master: way.br.Attrs().Index, MTU: 1400,
			SandboxFD: openFD(t, sb), IfName: "eth0", MAC: mac})
		took := time.Since(start)
		if err != nil {
			t.Fatalf("%s: %v", way.name, err)
		}
		far, near := linkPair(t, sb, "eth0", way.host, made.Name)
		checkNeighbours(t, far, near)
		t.Logf("%s: eth0 %d@if%d, %s %d@if%d in %v", way.name, far.Attrs().Index, far.Attrs().ParentIndex, near.Attrs().Name, near.Attrs().Index, near.Attrs().ParentIndex, took)
		if far.Attrs().HardwareAddr.String() != mac.String() || far.Attrs().MTU != 1400 || near.Attrs().MTU != 1400 {
			t.Errorf("%s: eth0 %s mtu %d, host side mtu %d", way.name, far.Attrs().HardwareAddr, far.Attrs().MTU, near.Attrs().MTU)
		}
		if near.Attrs().MasterIndex != way.br.Attrs().Index || near.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("%s: host side master %d flags %v, want docker0 and up", way.name, near.Attrs().MasterIndex, near.Attrs().Flags)
		}
		if made.Index != 0 && made.Index != far.Attrs().Index {
			t.Errorf("%s: reported index %d, eth0 has %d", way.name, made.Index, far.Attrs().Index)
		}
		if len(made.SrcName) != 11 || made.SrcName[:4] != "veth" {
			t.Errorf("%s: source name %q", way.name, made.SrcName)
		}
		if way.s == s {
			if made.Index == 0 {
				t.Errorf("%s: the index is not known without a lookup", way.name)
			}
			if far.Attrs().Index <= last {
				t.Errorf("%s: index %d after %d: the numbers go back", way.name, far.Attrs().Index, last)
			}
			last = near.Attrs().Index
		}
	}
	for _, h := range []struct {
		ns   string
		want int
	}{{host, 4}, {moved, 3}} {
		if names := nstest.LinkNames(t, h.ns); len(names) != h.want {
			t.Errorf("host links %v: want docker0, lo and the host sides, no temporary name left", names)
		}
	}
}

// An overlay network's pair: the near end vethN in the network's own
// namespace, a port of its br0; a name taken there makes it take the
// next one.
func TestMakeEndpointVethElsewhere(t *testing.T) {
	nstest.NeedRoot(t)
	host := nstest.NewNS(t, prefix, "host")
	ov := nstest.NewNS(t, prefix, "ov")
	nstest.Bridge(t, ov, "br0")
	br := nstest.Link(t, ov, "br0")
	la := netlink.NewLinkAttrs()
	la.Name = "veth0" // a left-over of a failed join
	if err := nstest.Handle(t, ov).LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "left1"}); err != nil {
		t.Fatal(err)
	}
	s, err := OpenLinkSocket(host)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, moveOnly := range []bool{false, true} {
		n := 0
		next := func() string { n++; return []string{"", "veth0", "veth1", "veth2"}[min(n, 3)] }
		if moveOnly {
			n = 1 // veth0 and veth1 are taken by then
		}
		s.makeAndMoveOnly = moveOnly
		sb := nstest.NewNS(t, prefix, "sb")
		made, err := s.MakeEndpointVeth(EndpointVeth{Name: next, NSFD: openFD(t, ov), Master: br.Attrs().Index, MTU: 1450,
			SandboxFD: openFD(t, sb), IfName: "eth0"})
		if err != nil {
			t.Fatalf("make and move only %v: %v", moveOnly, err)
		}
		want := map[bool]string{false: "veth1", true: "veth2"}[moveOnly]
		if made.Name != want {
			t.Errorf("make and move only %v: near end %s, want %s (veth0 is taken)", moveOnly, made.Name, want)
		}
		far, near := linkPair(t, sb, "eth0", ov, made.Name)
		if moveOnly {
			// Moved into a namespace of its own numbering, the near end
			// may have had to take another index there.
			if far.Attrs().ParentIndex != near.Attrs().Index && near.Attrs().ParentIndex != far.Attrs().Index {
				t.Errorf("eth0 %d@if%d, %s %d@if%d: not each other's peers", far.Attrs().Index, far.Attrs().ParentIndex, near.Attrs().Name, near.Attrs().Index, near.Attrs().ParentIndex)
			}
		} else {
			checkNeighbours(t, far, near)
		}
		if near.Attrs().MasterIndex != br.Attrs().Index || near.Attrs().Flags&net.FlagUp == 0 || far.Attrs().MTU != 1450 {
			t.Errorf("%s: master %d flags %v, eth0 mtu %d", made.Name, near.Attrs().MasterIndex, near.Attrs().Flags, far.Attrs().MTU)
		}
	}
	if names := nstest.LinkNames(t, host); len(names) != 1 {
		t.Errorf("host links %v: want lo only, nothing left on the way", names)
	}
}
