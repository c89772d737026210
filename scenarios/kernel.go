package scenarios

import (
	"fmt"
	"sort"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// Iface is one link of a namespace as the kernel reports it.
type Iface struct {
	Name  string
	Kind  string
	MAC   string
	Up    bool
	Addrs []string // IPv4 CIDRs
}

// Ifaces dumps the links and IPv4 addresses of the namespace at path
// (a /run/netns pin or /proc/PID/ns/net), sorted by name.
func Ifaces(path string) []Iface {
	GinkgoHelper()
	var out []Iface
	for _, l := range Links(path) {
		out = append(out, l.Iface)
	}
	return out
}

// Link is one link of a namespace with what ties it to other links.
type Link struct {
	Iface
	Index int
	// Master is the name of the bridge the link is a port of ("" if none).
	Master string
	// Peer is, for a veth, its peer's ifindex in the peer's own namespace
	// (IFLA_LINK): a host-side veth and a container's eth0 are one pair
	// when each one's Peer is the other's Index.
	Peer int
}

// PairedWith says whether l and o are the two ends of one veth pair.
func (l Link) PairedWith(o Link) bool {
	return l.Kind == "veth" && o.Kind == "veth" && l.Peer == o.Index && o.Peer == l.Index
}

// Links dumps the links of the namespace at path with their addresses,
// bridge and veth peer, sorted by name.
func Links(path string) []Link {
	GinkgoHelper()
	h, err := netns.Handle(path)
	Expect(err).NotTo(HaveOccurred())
	defer h.Close()
	links, err := netns.LinkList(h)
	Expect(err).NotTo(HaveOccurred())
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	var out []Link
	for _, l := range links {
		a := l.Attrs()
		addrs, err := netns.AddrList(h, l, netlink.FAMILY_V4)
		Expect(err).NotTo(HaveOccurred())
		i := Iface{Name: a.Name, Kind: l.Type(), MAC: a.HardwareAddr.String(), Up: a.Flags&unix.IFF_UP != 0}
		for _, ad := range addrs {
			i.Addrs = append(i.Addrs, ad.IPNet.String())
		}
		sort.Strings(i.Addrs)
		out = append(out, Link{Iface: i, Index: a.Index, Master: names[a.MasterIndex], Peer: a.ParentIndex})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// LinkNamed returns the named link of the namespace at path; the spec
// fails if there is none.
func LinkNamed(path, name string) Link {
	GinkgoHelper()
	for _, l := range Links(path) {
		if l.Name == name {
			return l
		}
	}
	Fail(fmt.Sprintf("no link %s in %s", name, path))
	return Link{}
}

// LinkNames lists the names of the links of the namespace at path.
func LinkNames(path string) []string {
	GinkgoHelper()
	var out []string
	for _, l := range Links(path) {
		out = append(out, l.Name)
	}
	return out
}

// BridgePorts lists the links of the namespace at path that are ports of
// the named bridge (their master is it), as `bridge link` shows them.
func BridgePorts(path, bridge string) []Link {
	GinkgoHelper()
	var out []Link
	for _, l := range Links(path) {
		if l.Master == bridge {
			out = append(out, l)
		}
	}
	return out
}

// PortOf returns the port of the named bridge, in the namespace at path,
// whose veth peer is end (a container's eth0); the spec fails if none is.
func PortOf(path, bridge string, end Link) Link {
	GinkgoHelper()
	ports := BridgePorts(path, bridge)
	for _, p := range ports {
		if p.PairedWith(end) {
			return p
		}
	}
	Fail(fmt.Sprintf("no port of %s in %s is the peer of %s (index %d, peer %d); ports: %+v",
		bridge, path, end.Name, end.Index, end.Peer, ports))
	return Link{}
}

// FDBEntry is one entry of a bridge's forwarding database, as
// `brctl showmacs` lists it.
type FDBEntry struct {
	MAC   string
	Port  string // the bridge port the MAC was learned on (or belongs to)
	Local bool   // the port's own address ("is local? yes")
}

// BridgeFDB dumps the forwarding database of the named bridge in the
// namespace at path: the entries on its ports, not the bridge's own.
func BridgeFDB(path, bridge string) []FDBEntry {
	GinkgoHelper()
	h, err := netns.Handle(path)
	Expect(err).NotTo(HaveOccurred())
	defer h.Close()
	br, err := h.LinkByName(bridge)
	Expect(err).NotTo(HaveOccurred(), "bridge %s in %s", bridge, path)
	links, err := netns.LinkList(h)
	Expect(err).NotTo(HaveOccurred())
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	// A dump filtered by the bridge's index would return only the entries
	// of the bridge device itself; learned entries carry their port's
	// index and the bridge as NDA_MASTER, so dump all and keep those.
	neighs, err := netns.NeighList(h, 0, unix.AF_BRIDGE)
	Expect(err).NotTo(HaveOccurred())
	var out []FDBEntry
	for _, n := range neighs {
		if n.MasterIndex != br.Attrs().Index || n.LinkIndex == br.Attrs().Index || n.HardwareAddr == nil {
			continue
		}
		out = append(out, FDBEntry{MAC: n.HardwareAddr.String(), Port: names[n.LinkIndex], Local: n.State&netlink.NUD_PERMANENT != 0})
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].MAC != out[b].MAC {
			return out[a].MAC < out[b].MAC
		}
		return out[a].Port < out[b].Port
	})
	return out
}

// Routes dumps the IPv4 routes of the namespace at path, in table (main:
// unix.RT_TABLE_MAIN, local: unix.RT_TABLE_LOCAL), as "dst via gw dev X" lines.
func Routes(path string, table int) []string {
	GinkgoHelper()
	h, err := netns.Handle(path)
	Expect(err).NotTo(HaveOccurred())
	defer h.Close()
	links, err := netns.LinkList(h)
	Expect(err).NotTo(HaveOccurred())
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	rs, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, r := range rs {
		// Newer kernels and netlink report a default route's destination as
		// 0.0.0.0/0 rather than leaving it out; `ip route` says "default".
		dst := "default"
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones > 0 {
				dst = r.Dst.String()
			}
		}
		line := dst
		if r.Gw != nil {
			line += " via " + r.Gw.String()
		}
		out = append(out, fmt.Sprintf("%s dev %s", line, names[r.LinkIndex]))
	}
	sort.Strings(out)
	return out
}

// Inode is the identity of the namespace at path.
func Inode(path string) uint64 {
	GinkgoHelper()
	ino, err := netns.Inode(path)
	Expect(err).NotTo(HaveOccurred())
	return ino
}
