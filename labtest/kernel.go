package labtest

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// Link is one link of a namespace as the kernel reports it: name, kind,
// MAC, admin state, IPv4 addresses, bridge and veth peer.
type Link = kernel.Link

// FDBEntry is one entry of a bridge's forwarding database, as `brctl
// showmacs` lists it.
type FDBEntry = kernel.FDBEntry

// Links dumps the links of the namespace at path (a /run/netns pin or
// /proc/PID/ns/net) with their addresses, bridge and veth peer, sorted by
// name.
func Links(path string) []Link {
	GinkgoHelper()
	links, err := kernel.Links(path)
	Expect(err).NotTo(HaveOccurred())
	return links
}

// LinkNamed returns the named link of the namespace at path; the spec
// fails if there is none.
func LinkNamed(path, name string) Link {
	GinkgoHelper()
	l, err := kernel.LinkNamed(path, name)
	Expect(err).NotTo(HaveOccurred())
	return l
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

// BridgeFDB dumps the forwarding database of the named bridge in the
// namespace at path: the entries on its ports, not the bridge's own.
func BridgeFDB(path, bridge string) []FDBEntry {
	GinkgoHelper()
	fdb, err := kernel.FDB(path, bridge)
	Expect(err).NotTo(HaveOccurred())
	return fdb
}

// Routes dumps the IPv4 routes of the namespace at path, in table
// (kernel.MainTable, kernel.LocalTable), as "dst via gw dev X" lines,
// sorted.
func Routes(path string, table int) []string {
	GinkgoHelper()
	rs, err := kernel.Routes(path, netlink.FAMILY_V4, table)
	Expect(err).NotTo(HaveOccurred())
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}

// Inode is the identity of the namespace at path.
func Inode(path string) uint64 {
	GinkgoHelper()
	ino, err := netns.Inode(path)
	Expect(err).NotTo(HaveOccurred())
	return ino
}
