// Package nstest gives privileged tests their own network namespaces, veth
// pairs and addresses, builds the Go programs they run (Programs), and
// proves afterwards that nothing was left behind.
// Everything it makes carries the caller's prefix and lives only inside
// namespaces it created; the root namespace is never touched.
package nstest

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// Prefix returns a namespace-name prefix unique to this test process
// ("<short><pid>-"), so that leftovers can be told apart from everybody
// else's; short is a few letters naming the package under test.
func Prefix(short string) string { return fmt.Sprintf("%s%d-", short, os.Getpid()) }

// NeedRoot skips t when the test cannot create namespaces.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
}

// Inode is the inode of the namespace at path (a pin, /proc/PID/ns/net):
// two paths with the same inode are the same namespace.
func Inode(t testing.TB, path string) uint64 {
	t.Helper()
	ino, err := netns.Inode(path)
	if err != nil {
		t.Fatal(err)
	}
	return ino
}

var seq atomic.Int32

// NewNS makes a fresh namespace pinned as <prefix><n><role> and removes it
// when the test ends.
func NewNS(t testing.TB, prefix, role string) string {
	t.Helper()
	path, err := netns.NewNamed(fmt.Sprintf("%s%d%s", prefix, seq.Add(1), role))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netns.Delete(path); err != nil {
			t.Error(err)
		}
	})
	return path
}

// Veth joins nsA and nsB: the pair is created by a handle bound to nsA and
// its peer is born straight into nsB, so nothing touches the root namespace.
// The pair is deleted before the namespaces (cleanups run last-in first-out).
func Veth(t testing.TB, nsA, nameA, nsB, nameB string) {
	t.Helper()
	h, err := netns.Handle(nsA)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	fd, err := unix.Open(nsB, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	la := netlink.NewLinkAttrs()
	la.Name = nameA
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: nameB, PeerNamespace: netlink.NsFd(fd)}); err != nil {
		t.Fatalf("veth %s/%s: %v", nameA, nameB, err)
	}
	t.Cleanup(func() {
		h, err := netns.Handle(nsA)
		if err != nil {
			t.Error(err)
			return
		}
		defer h.Close()
		if l, err := h.LinkByName(nameA); err == nil {
			if err := h.LinkDel(l); err != nil {
				t.Error(err)
			}
		}
	})
}

// End is one end of the segment Segment makes: the role that names its
// namespace (see NewNS), its end of the veth pair, and the addresses
// (CIDRs) put on that end.
type End struct {
	Role, Link string
	CIDRs      []string
}

// Segment makes two namespaces joined by a veth pair, the smallest L2
// segment, each end up with its addresses, and returns the namespaces'
// paths. Without root the test is skipped.
func Segment(t testing.TB, prefix string, a, b End) (nsA, nsB string) {
	t.Helper()
	NeedRoot(t)
	nsA, nsB = NewNS(t, prefix, a.Role), NewNS(t, prefix, b.Role)
	Veth(t, nsA, a.Link, nsB, b.Link)
	for _, cidr := range a.CIDRs {
		Addr(t, nsA, a.Link, cidr)
	}
	for _, cidr := range b.CIDRs {
		Addr(t, nsB, b.Link, cidr)
	}
	// Both ends' carriers acted on, so that the first packet is not
	// lost on a loaded machine (netns.SyncLink).
	syncLink(t, nsA, a.Link)
	syncLink(t, nsB, b.Link)
	return nsA, nsB
}

// syncLink is netns.SyncLink of link inside ns.
func syncLink(t testing.TB, ns, link string) {
	t.Helper()
	h, err := netns.Handle(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := netns.SyncLink(h, &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: link}}); err != nil {
		t.Fatalf("%s: %v", ns, err)
	}
}

// Addr puts cidr on link inside ns and sets the link up. IPv6 addresses skip
// duplicate detection so that they work at once.
func Addr(t testing.TB, ns, link, cidr string) {
	t.Helper()
	addr(t, ns, link, cidr, true)
}

// AddrOnly is Addr without setting the link up: a link that is down (an
// unplugged cable) stays down.
func AddrOnly(t testing.TB, ns, link, cidr string) {
	t.Helper()
	addr(t, ns, link, cidr, false)
}

func addr(t testing.TB, ns, link, cidr string, up bool) {
	t.Helper()
	h, err := netns.Handle(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(link)
	if err != nil {
		t.Fatalf("%s: %s: %v", ns, link, err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	if a.IP.To4() == nil {
		a.Flags = unix.IFA_F_NODAD
	}
	if err := h.AddrAdd(l, a); err != nil {
		t.Fatalf("%s: %s: add %s: %v", ns, link, cidr, err)
	}
	if up {
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
}

// Leftovers lists the pins and mounts carrying prefix that still exist: a
// TestMain calls it after m.Run and fails the run when it is not empty.
func Leftovers(prefix string) []string {
	var left []string
	pins, err := kernel.Pins(prefix)
	if err != nil {
		left = append(left, err.Error())
	}
	for _, p := range pins {
		left = append(left, netns.Path(p))
	}
	mounts, err := kernel.Mounts()
	if err != nil {
		left = append(left, err.Error())
	}
	for _, m := range mounts {
		if strings.Contains(m.Point, "/"+prefix) || strings.Contains(m.Root, "/"+prefix) || strings.Contains(m.Source, "/"+prefix) {
			left = append(left, fmt.Sprintf("mount: %s on %s (%s, root %s)", m.Source, m.Point, m.FSType, m.Root))
		}
	}
	return left
}

// Main runs the tests, then cleanups (of what the package's tests share,
// such as built binaries), and fails the run if anything carrying prefix
// was left behind. Use it as `func TestMain(m *testing.M) { nstest.Main(m, prefix) }`.
func Main(m *testing.M, prefix string, cleanups ...func()) {
	code := m.Run()
	for _, c := range cleanups {
		c()
	}
	if left := Leftovers(prefix); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "left behind: %v\n", left)
		code = 1
	}
	os.Exit(code)
}
