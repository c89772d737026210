// Package kernel reads what the kernel holds: in one network namespace its
// links, addresses, routes and rules, neighbour and bridge forwarding
// entries, sysctls, qdiscs, firewall rulesets and their generation; machine-wide, the namespace pins
// under /run/netns and the mount table. It is how the lab describes itself,
// how specs assert and what the root-namespace check compares: every
// reader of kernel state goes through it, so they all see the same thing.
//
// Reading is all it does. A namespace is named by a path, a /run/netns
// pin or /proc/PID/ns/net; Self is the caller's own. Netlink dumps go
// through handles bound to the namespace (and retried when the kernel
// interrupts them), so no thread changes namespace except to read
// /proc/sys/net or to run a dump tool there.
package kernel

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// Self names the caller's own network namespace: the one of the process's
// main thread, which package netns never switches.
const Self = "/proc/self/ns/net"

// Link is one link of a namespace as the kernel reports it.
type Link struct {
	Name string `json:"name"`
	// Kind is the link type: veth, bridge, vxlan, macvlan, device...
	Kind  string `json:"kind"`
	MAC   string `json:"mac,omitempty"`
	MTU   int    `json:"mtu"`
	Index int    `json:"index"`
	// Master is the name of the bridge the link is a port of ("" if none).
	Master string `json:"master,omitempty"`
	// Peer is IFLA_LINK: for a veth its peer's ifindex in the peer's own
	// namespace, for a macvlan or VLAN link its parent's. A host-side veth
	// and a container's eth0 are one pair when each one's Peer is the
	// other's Index.
	Peer int `json:"peer,omitempty"`
	// Up is the administrative state (ip link set up), not the carrier.
	Up bool `json:"up"`
	// Promisc: the link takes every frame (ip link set promisc on).
	Promisc bool `json:"promisc,omitempty"`
	// Addrs are the link's IPv4 addresses as CIDRs, sorted.
	Addrs []string `json:"addresses,omitempty"`
}

// PairedWith says whether l and o are the two ends of one veth pair.
func (l Link) PairedWith(o Link) bool {
	return l.Kind == "veth" && o.Kind == "veth" && l.Peer == o.Index && o.Peer == l.Index
}

// Links dumps the links of the namespace at ns with their IPv4 addresses,
// sorted by name.
func Links(ns string) ([]Link, error) {
	return read(ns, func(v *view) ([]Link, error) {
		addrs, err := netns.AddrList(v.h, nil, netlink.FAMILY_V4)
		if err != nil {
			return nil, fmt.Errorf("%s: addresses: %w", ns, err)
		}
		byIndex := map[int][]string{}
		for _, a := range addrs {
			byIndex[a.LinkIndex] = append(byIndex[a.LinkIndex], a.IPNet.String())
		}
		out := make([]Link, 0, len(v.links))
		for _, l := range v.links {
			a := l.Attrs()
			ad := byIndex[a.Index]
			slices.Sort(ad)
			out = append(out, Link{
				Name: a.Name, Kind: l.Type(), MAC: a.HardwareAddr.String(), MTU: a.MTU, Index: a.Index,
				Master: v.names[a.MasterIndex], Peer: a.ParentIndex,
				Up:      a.Flags&net.FlagUp != 0 || a.RawFlags&unix.IFF_UP != 0,
				Promisc: a.Promisc != 0 || a.RawFlags&unix.IFF_PROMISC != 0,
				Addrs:   ad,
			})
		}
		slices.SortFunc(out, func(a, b Link) int { return strings.Compare(a.Name, b.Name) })
		return out, nil
	})
}

// LinkNamed returns the named link of the namespace at ns.
func LinkNamed(ns, name string) (Link, error) {
	links, err := Links(ns)
	if err != nil {
		return Link{}, err
	}
	for _, l := range links {
		if l.Name == name {
			return l, nil
		}
	}
	return Link{}, fmt.Errorf("%s: link %s: %w", ns, name, ErrNotFound)
}

// view is a netlink handle bound to a namespace and the names of its
// links, which addresses, routes and neighbours refer to by index.
type view struct {
	h     *netlink.Handle
	links []netlink.Link
	names map[int]string
}

// read opens a view of the namespace at ns for fn, and closes it after.
func read[T any](ns string, fn func(v *view) (T, error)) (T, error) {
	var zero T
	h, err := netns.Handle(ns)
	if err != nil {
		return zero, err
	}
	defer h.Close()
	links, err := netns.LinkList(h)
	if err != nil {
		return zero, fmt.Errorf("%s: links: %w", ns, err)
	}
	v := &view{h: h, links: links, names: make(map[int]string, len(links))}
	for _, l := range links {
		v.names[l.Attrs().Index] = l.Attrs().Name
	}
	return fn(v)
}

// Addr is one address of a namespace and the link that holds it.
type Addr struct {
	Dev  string // the link's name
	CIDR string // "192.168.99.101/24", "fe80::1/64"
}

func (a Addr) String() string { return a.Dev + " " + a.CIDR }

// Addrs dumps the addresses of family (netlink.FAMILY_V4, FAMILY_V6,
// FAMILY_ALL) in the namespace at ns, in the kernel's order.
func Addrs(ns string, family int) ([]Addr, error) {
	return read(ns, func(v *view) ([]Addr, error) {
		list, err := netns.AddrList(v.h, nil, family)
		if err != nil {
			return nil, fmt.Errorf("%s: addresses: %w", ns, err)
		}
		out := make([]Addr, 0, len(list))
		for _, a := range list {
			out = append(out, Addr{Dev: v.names[a.LinkIndex], CIDR: a.IPNet.String()})
		}
		return out, nil
	})
}
