package probe

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl/netns"
)

// prefix marks every namespace these tests make, so TestMain can prove
// none is left behind.
var prefix = fmt.Sprintf("prbt%d-", os.Getpid())

func TestMain(m *testing.M) {
	code := m.Run()
	if left := leftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "left behind: %v\n", left)
		code = 1
	}
	os.Exit(code)
}

func leftovers() []string {
	var left []string
	entries, _ := os.ReadDir(netns.RunDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			left = append(left, netns.Path(e.Name()))
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mounts), "\n") {
		if strings.Contains(l, "/"+prefix) {
			left = append(left, "mount: "+l)
		}
	}
	return left
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
}

var nsSeq atomic.Int32

// newNS makes a fresh namespace pinned under the test prefix and removes
// it when the test ends.
func newNS(t *testing.T, role string) string {
	t.Helper()
	path, err := netns.NewNamed(fmt.Sprintf("%s%d%s", prefix, nsSeq.Add(1), role))
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

// veth joins nsA and nsB: the pair is created by a handle bound to nsA and
// its peer is born straight into nsB, so nothing touches the root namespace.
// The pair is deleted before the namespaces (cleanups run last-in first-out).
func veth(t *testing.T, nsA, nameA, nsB, nameB string) {
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

// addr puts cidr on link inside ns and sets the link up unless down is
// asked. IPv6 addresses skip duplicate detection so they work at once.
func addr(t *testing.T, ns, link, cidr string, up bool) {
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

var (
	ipA    = netip.MustParseAddr("192.168.100.1")
	ipB    = netip.MustParseAddr("192.168.100.2")
	ipC    = netip.MustParseAddr("192.168.100.3")
	ipNone = netip.MustParseAddr("192.168.100.99") // on the segment, no host
	ip6A   = netip.MustParseAddr("fd00:100::1")
	ip6B   = netip.MustParseAddr("fd00:100::2")
)

// twoHosts is exercise E01's picture: two namespaces joined by a veth pair,
// 192.168.100.1/24 and .2/24 (and fd00:100::1/64, ::2/64).
func twoHosts(t *testing.T) (a, b string) {
	t.Helper()
	a, b = newNS(t, "a"), newNS(t, "b")
	veth(t, a, "ab", b, "ba")
	addr(t, a, "ab", "192.168.100.1/24", true)
	addr(t, a, "ab", "fd00:100::1/64", true)
	addr(t, b, "ba", "192.168.100.2/24", true)
	addr(t, b, "ba", "fd00:100::2/64", true)
	return a, b
}
