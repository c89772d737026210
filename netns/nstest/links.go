package nstest

import (
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// Handle is a netlink handle in ns, closed when the test ends.
func Handle(t testing.TB, ns string) *netlink.Handle {
	t.Helper()
	h, err := netns.Handle(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// handleNow is a netlink handle in ns for one call; the caller closes it.
func handleNow(t testing.TB, ns string) *netlink.Handle {
	t.Helper()
	h, err := netns.Handle(ns)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Link is the link name of ns.
func Link(t testing.TB, ns, name string) netlink.Link {
	t.Helper()
	h := handleNow(t, ns)
	defer h.Close()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("%s: link %s: %v", ns, name, err)
	}
	return l
}

// LinkNames lists the links of ns by name, sorted.
func LinkNames(t testing.TB, ns string) []string {
	t.Helper()
	links, err := kernel.Links(ns)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(links))
	for _, l := range links {
		out = append(out, l.Name)
	}
	return out
}

// Addrs lists the IPv4 addresses of link l of ns as "a.b.c.d/len", sorted.
func Addrs(t testing.TB, ns string, l netlink.Link) []string {
	t.Helper()
	k, err := kernel.LinkNamed(ns, l.Attrs().Name)
	if err != nil {
		t.Fatal(err)
	}
	return k.Addrs
}

// Gateways lists the IPv4 routes of ns's main table that keep accepts as
// "via GW dev NAME".
func Gateways(t testing.TB, ns string, keep func(kernel.Route) bool) []string {
	t.Helper()
	routes, err := kernel.Routes(ns, netlink.FAMILY_V4, kernel.MainTable)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range routes {
		if keep(r) {
			out = append(out, fmt.Sprintf("via %s dev %s", r.Gw, r.Dev))
		}
	}
	return out
}

// Bridge makes a Linux bridge called name in ns, up; it goes with the
// namespace.
func Bridge(t testing.TB, ns, name string) {
	t.Helper()
	la := netlink.NewLinkAttrs()
	la.Name = name
	la.Flags = net.FlagUp
	if err := Handle(t, ns).LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil {
		t.Fatalf("%s: bridge %s: %v", ns, name, err)
	}
}

// Enslave makes link name of ns a port of bridge br and sets it up.
func Enslave(t testing.TB, ns, name, br string) {
	t.Helper()
	h := Handle(t, ns)
	l := Link(t, ns, name)
	if err := h.LinkSetMaster(l, Link(t, ns, br)); err != nil {
		t.Fatalf("%s: %s master %s: %v", ns, name, br, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		t.Fatalf("%s: %s up: %v", ns, name, err)
	}
}

// Route adds a route to dst ("default" or a CIDR) via gw (empty: on-link)
// out of dev in ns.
func Route(t testing.TB, ns, dst, gw, dev string) {
	t.Helper()
	r := netlink.Route{LinkIndex: Link(t, ns, dev).Attrs().Index}
	if dst != "default" {
		_, n, err := net.ParseCIDR(dst)
		if err != nil {
			t.Fatal(err)
		}
		r.Dst = n
	}
	if gw != "" {
		r.Gw = net.ParseIP(gw)
	} else {
		r.Scope = netlink.SCOPE_LINK
	}
	if err := Handle(t, ns).RouteAdd(&r); err != nil {
		t.Fatalf("%s: route %s via %q dev %s: %v", ns, dst, gw, dev, err)
	}
}

// OpenIn runs open on a thread inside ns (netns.Do) and closes what it
// made when the test ends, before the namespaces registered earlier go
// (cleanups run last-in first-out).
func OpenIn[T io.Closer](t testing.TB, ns string, open func() (T, error)) T {
	t.Helper()
	var c T
	if err := netns.Do(ns, func() (err error) { c, err = open(); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}
