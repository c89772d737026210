package probe

import (
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// neighbours keeps the neighbour tables of a matrix's namespaces as the
// matrix found them. Every pair a ping answers on one link costs two
// entries — the source's for the destination, and the destination's for
// the source, made when it answers the source's ARP request — and the
// kernel's neighbour table is one for the whole machine: it holds
// net.ipv4.neigh.default.gc_thresh3 entries (1024 by default) in all
// namespaces together, and cannot evict one younger than five seconds. All
// pairs of 50 endpoints on one segment need 2,450 entries at once; past
// the limit the kernel drops the packets that need a new one ("neighbor
// table overflow"). So as soon as a source has its answers, the entries
// its pings added on the endpoints' own links (the link of each
// endpoint's address) are removed again, in the source and in its
// destinations, and the table holds at most MatrixOpts.Parallel sources'
// worth. Entries the matrix found, and permanent ones, are never touched;
// entries for gateways (pairs on different subnets) age out as usual.
type neighbours struct {
	handles map[string]*netlink.Handle
	// link is the ifindex of each endpoint's address in its namespace.
	link map[Endpoint]int
	// before holds, per namespace, the entries it had when the matrix
	// started. Written by newNeighbours only, then read concurrently.
	before map[string]map[neighKey]bool
}

// neighKey is one entry of a namespace's neighbour table.
type neighKey struct {
	link int
	addr netip.Addr
}

// newNeighbours opens a route netlink handle in every namespace of eps,
// finds each endpoint's link and notes the entries each namespace holds
// now. A namespace it cannot open is left out: its pings fail on their
// own.
func newNeighbours(eps []Endpoint) *neighbours {
	n := &neighbours{handles: map[string]*netlink.Handle{}, link: map[Endpoint]int{}, before: map[string]map[neighKey]bool{}}
	for _, e := range eps {
		h, seen := n.handles[e.NS]
		if !seen {
			h, _ = netns.RouteHandle(e.NS)
			n.handles[e.NS] = h
			if h != nil {
				n.before[e.NS] = dynamicEntries(h)
			}
		}
		if h == nil {
			continue
		}
		if _, done := n.link[e]; !done {
			n.link[e] = linkOf(h, e.Addr.Unmap())
		}
	}
	return n
}

// dynamicEntries lists the neighbour entries of h's namespace that the
// kernel could age out (neither permanent nor NOARP).
func dynamicEntries(h *netlink.Handle) map[neighKey]bool {
	out := map[neighKey]bool{}
	for _, family := range []int{unix.AF_INET, unix.AF_INET6} {
		list, _ := netns.NeighList(h, 0, family)
		for _, e := range list {
			a, ok := netip.AddrFromSlice(e.IP)
			if ok && e.State&(unix.NUD_PERMANENT|unix.NUD_NOARP) == 0 {
				out[neighKey{e.LinkIndex, a.Unmap()}] = true
			}
		}
	}
	return out
}

// linkOf is the ifindex of the link that holds addr in h's namespace (0:
// none).
func linkOf(h *netlink.Handle, addr netip.Addr) int {
	family := unix.AF_INET
	if addr.Is6() {
		family = unix.AF_INET6
	}
	list, _ := netns.AddrList(h, nil, family)
	for _, a := range list {
		if got, ok := netip.AddrFromSlice(a.IP); ok && got.Unmap() == addr.WithZone("") {
			return a.LinkIndex
		}
	}
	return 0
}

// release removes the entries src's pings to dsts added: src's for each
// destination, and each destination's for src, on their own links.
func (n *neighbours) release(src Endpoint, dsts []Endpoint) {
	for _, d := range dsts {
		n.remove(src, d.Addr)
		n.remove(d, src.Addr)
	}
}

// remove deletes e's entry for addr on e's own link, unless the matrix
// found it there.
func (n *neighbours) remove(e Endpoint, addr netip.Addr) {
	h, link := n.handles[e.NS], n.link[e]
	addr = addr.Unmap().WithZone("")
	if h == nil || link == 0 || n.before[e.NS][neighKey{link, addr}] {
		return
	}
	family := unix.AF_INET
	if addr.Is6() {
		family = unix.AF_INET6
	}
	// An entry that is not there (a pair that never resolved, one the
	// kernel dropped) is no error; one that cannot be removed ages out.
	h.NeighDel(&netlink.Neigh{LinkIndex: link, Family: family, IP: net.IP(addr.AsSlice())})
}

func (n *neighbours) close() {
	for _, h := range n.handles {
		if h != nil {
			h.Close()
		}
	}
}
