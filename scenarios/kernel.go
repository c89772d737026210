package scenarios

import (
	"fmt"
	"sort"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl/netns"
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
	h, err := netns.Handle(path)
	Expect(err).NotTo(HaveOccurred())
	defer h.Close()
	links, err := netns.LinkList(h)
	Expect(err).NotTo(HaveOccurred())
	var out []Iface
	for _, l := range links {
		a := l.Attrs()
		addrs, err := netns.AddrList(h, l, netlink.FAMILY_V4)
		Expect(err).NotTo(HaveOccurred())
		i := Iface{Name: a.Name, Kind: l.Type(), MAC: a.HardwareAddr.String(), Up: a.Flags&unix.IFF_UP != 0}
		for _, ad := range addrs {
			i.Addrs = append(i.Addrs, ad.IPNet.String())
		}
		sort.Strings(i.Addrs)
		out = append(out, i)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
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
		dst := "default"
		if r.Dst != nil {
			dst = r.Dst.String()
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
