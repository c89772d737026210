package overlay_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/internal/enginetest"
	"github.com/nslab/nslab/netimpl/overlay"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/capture"
	"github.com/nslab/nslab/netns/kernel"
	"github.com/nslab/nslab/netns/nstest"
)

// vhost is a test "docker host": a namespace with the underlay on eth1,
// an engine and its overlay driver, as hostd will hold them.
type vhost struct {
	t    testing.TB
	name string
	ns   string
	addr netip.Addr
	drv  *overlay.Driver
	e    *netimpl.Engine
}

// The two overlay hosts: node1 and node2 on 192.168.8.0/24.
var (
	node1 = netip.MustParseAddr("192.168.8.150")
	node2 = netip.MustParseAddr("192.168.8.148")
)

// newHosts makes two hosts whose eth1 legs are the two ends of one veth,
// the underlay, with node1's and node2's addresses.
func newHosts(t testing.TB) (*vhost, *vhost) {
	t.Helper()
	ns1, ns2 := nstest.Segment(t, prefix,
		nstest.End{Role: "node1", Link: "eth1", CIDRs: []string{node1.String() + "/24"}},
		nstest.End{Role: "node2", Link: "eth1", CIDRs: []string{node2.String() + "/24"}})
	return newHost(t, "node1", ns1, node1), newHost(t, "node2", ns2, node2)
}

func newHost(t testing.TB, name, ns string, addr netip.Addr) *vhost {
	t.Helper()
	h := &vhost{t: t, name: name, ns: ns, addr: addr}
	var err error
	h.drv, err = overlay.New(overlay.Config{HostNS: ns, NSPrefix: prefix + name + "-", Advertise: addr})
	if err != nil {
		t.Fatal(err)
	}
	h.e = enginetest.Engine(t, netimpl.Options{Seed: "ovl/" + name, HostNS: ns}, func() {
		// Nothing of the driver may outlive the engine: the host keeps
		// its loopback and underlay only.
		if links := h.linkNames(h.ns); !slicesEqual(links, []string{"eth1", "lo"}) {
			t.Errorf("%s: after close the host has links %v", name, links)
		}
	}, h.drv)
	return h
}

// network creates an overlay network on the host with a given subnet and VNI,
// as hostd will after the store allocated both.
func (h *vhost) network(name, subnet string, vni uint32) netimpl.Network {
	h.t.Helper()
	n, err := h.e.CreateNetwork(netimplSpec(name, subnet, map[string]string{overlay.OptVXLANIDList: strconv.Itoa(int(vni))}))
	if err != nil {
		h.t.Fatalf("%s: create %s: %v", h.name, name, err)
	}
	return n
}

// netimplSpec is an overlay network request with a subnet and options.
func netimplSpec(name, subnet string, opts map[string]string) netimpl.NetworkSpec {
	return netimpl.NetworkSpec{
		Name:    name,
		Driver:  overlay.Name,
		IPAM:    netimpl.IPAM{Config: []netimpl.IPAMPool{{Subnet: subnet}}},
		Options: opts,
	}
}

// container is a sandbox joined to one network.
type container struct {
	name string
	host *vhost
	sb   netimpl.Sandbox
	ep   netimpl.Endpoint
	net  netimpl.Network
}

// run makes a container's namespace and joins it to n with address ip.
func (h *vhost) run(name string, n netimpl.Network, ip string) *container {
	h.t.Helper()
	sb, err := h.e.NewSandbox(netimpl.SandboxSpec{ContainerID: name, PinName: prefix + h.name + "-" + name})
	if err != nil {
		h.t.Fatal(err)
	}
	ep, err := h.e.Join(sb.ID, n.ID, netimpl.EndpointSpec{Name: name, IPv4: netip.MustParseAddr(ip)})
	if err != nil {
		h.e.DeleteSandbox(sb.ID)
		h.t.Fatalf("%s: join %s to %s: %v", h.name, name, n.Name, err)
	}
	return &container{name: name, host: h, sb: sb, ep: ep, net: n}
}

// stop removes the container's sandbox (leaving its network).
func (c *container) stop() {
	c.host.t.Helper()
	if err := c.host.e.DeleteSandbox(c.sb.ID); err != nil {
		c.host.t.Fatal(err)
	}
}

// ip is the container's overlay address.
func (c *container) ip() netip.Addr {
	a, _ := netip.AddrFromSlice(c.ep.Addr.IP.To4())
	return a
}

// peer is the container as the other hosts' drivers see it.
func (c *container) peer() overlay.Peer {
	return overlay.Peer{IP: c.ip(), MAC: c.ep.MAC, VTEP: c.host.addr}
}

// addPeer programs c as a peer on host h, as hostd's store watch will.
func (h *vhost) addPeer(networkID string, c *container) {
	h.t.Helper()
	if err := h.drv.AddPeer(networkID, c.peer()); err != nil {
		h.t.Fatalf("%s: %v", h.name, err)
	}
}

// ovns is the pin path of the network's namespace on the host.
func (h *vhost) ovns(n netimpl.Network) string {
	h.t.Helper()
	p, ok := h.drv.Namespace(n.ID)
	if !ok {
		h.t.Fatalf("%s: network %s has no namespace", h.name, n.Name)
	}
	return p
}

// linkNames lists the links of ns by name, sorted.
func (h *vhost) linkNames(ns string) []string { h.t.Helper(); return nstest.LinkNames(h.t, ns) }

// fdb lists the entries of vxlan0's own forwarding table (NTF_SELF) in
// the network's namespace, "MAC dst VTEP [permanent] self", as `bridge fdb
// show dev vxlan0 self` does; the dump also holds br0's entries for its
// port vxlan0 (learned MACs, no dst), which are left out.
func fdb(t testing.TB, ns string) []string {
	t.Helper()
	var out []string
	for _, n := range vxlanNeighbours(t, ns, unix.AF_BRIDGE) {
		if !n.Self {
			continue
		}
		s := fmt.Sprintf("%s dst %s", n.MAC, n.IP)
		if n.Permanent {
			s += " permanent"
		}
		out = append(out, s+" self")
	}
	sort.Strings(out)
	return out
}

// neighbours lists the IPv4 neighbour entries of vxlan0, "IP lladdr MAC state".
func neighbours(t testing.TB, ns string) []string {
	t.Helper()
	var out []string
	for _, n := range vxlanNeighbours(t, ns, netlink.FAMILY_V4) {
		s := fmt.Sprintf("%s lladdr %s", n.IP, n.MAC)
		if n.Permanent {
			s += " permanent"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// vxlanNeighbours dumps vxlan0's entries of family in ns.
func vxlanNeighbours(t testing.TB, ns string, family int) []kernel.Neighbour {
	t.Helper()
	list, err := kernel.Neighbours(ns, overlay.VXLANName, family)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// vxlanFrame is one VXLAN packet of a capture, decoded.
type vxlanFrame struct {
	outerSrc, outerDst netip.Addr
	vni                uint32
	innerDst           net.HardwareAddr
	innerARP           bool
	icmp               bool
	innerSrcIP         netip.Addr
	innerDstIP         netip.Addr
}

// vxlanFrames picks the VXLAN packets (UDP to 4789) out of a capture.
func vxlanFrames(pkts []capture.Packet) []vxlanFrame {
	var out []vxlanFrame
	for _, p := range pkts {
		f := capture.Summarize(p)
		if f.UDPDst != overlay.VXLANPort || f.Src == "" || f.VNI == nil || f.Inner == nil {
			continue
		}
		in := f.Inner
		v := vxlanFrame{vni: *f.VNI, icmp: in.ICMP != ""}
		v.outerSrc, _ = netip.ParseAddr(f.Src)
		v.outerDst, _ = netip.ParseAddr(f.Dst)
		v.innerDst, _ = net.ParseMAC(in.DstMAC)
		v.innerARP = in.ARP
		v.innerSrcIP, _ = netip.ParseAddr(in.Src)
		v.innerDstIP, _ = netip.ParseAddr(in.Dst)
		out = append(out, v)
	}
	return out
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

// leftovers lists the pins of this test process's namespaces.
func leftovers(sub string) []string {
	var out []string
	entries, _ := os.ReadDir(netns.RunDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) && strings.Contains(e.Name(), sub) {
			out = append(out, e.Name())
		}
	}
	return out
}
