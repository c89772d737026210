package bench_test

import (
	"fmt"
	"net/netip"
	"strconv"
	"testing"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/bridge"
	"github.com/nslab/nslab/netimpl/internal/enginetest"
	"github.com/nslab/nslab/netimpl/macvlan"
	"github.com/nslab/nslab/netimpl/null"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/nstest"
)

// world is two virtual hosts as the lab builds them: each a namespace with
// eth1, a veth leg into a Linux bridge of a fabric namespace (the LAN
// 192.168.99.0/24), and a network engine with the drivers hostd uses.
type world struct {
	hosts [2]*vhost
}

// vhost is one virtual host with its engine.
type vhost struct {
	b  *testing.B
	ns string
	e  *netimpl.Engine
	n  int
}

// hostSpec is what differs between the two hosts: docker0's --bip and
// the MTU its containers get (dockerd's --mtu; 0: 1500).
type hostSpec struct {
	bip string
	mtu int
}

// newWorld builds the fabric and the two hosts 192.168.99.101 and .102.
func newWorld(b *testing.B, specs [2]hostSpec) *world {
	b.Helper()
	fab := nstest.NewNS(b, prefix, "fab")
	nstest.Bridge(b, fab, "lan0")
	w := &world{}
	for i, s := range specs {
		ns := nstest.NewNS(b, prefix, fmt.Sprintf("h%d", i+1))
		leg := fmt.Sprintf("h%di1", i)
		nstest.Veth(b, fab, leg, ns, "eth1")
		nstest.Enslave(b, fab, leg, "lan0")
		nstest.Addr(b, ns, "eth1", fmt.Sprintf("192.168.99.%d/24", 101+i))
		w.hosts[i] = newHost(b, ns, s)
	}
	return w
}

// newHost makes the host's engine: bridge (docker0 on --bip, no firewall
// rules), macvlan and null drivers, closed when the benchmark ends.
func newHost(b *testing.B, ns string, s hostSpec) *vhost {
	b.Helper()
	br, err := bridge.New(bridge.Config{HostNS: ns})
	if err != nil {
		b.Fatal(err)
	}
	mv, err := macvlan.New(macvlan.Config{HostNS: ns})
	if err != nil {
		b.Fatal(err)
	}
	def := netimpl.NetworkSpec{Name: "bridge", Driver: bridge.Name, Options: bridge.DefaultNetworkOptions()}
	if s.bip != "" {
		p := netip.MustParsePrefix(s.bip)
		def.IPAM.Config = []netimpl.IPAMPool{{Subnet: p.Masked().String(), Gateway: p.Addr().String()}}
	}
	if s.mtu != 0 {
		def.Options[bridge.OptMTU] = strconv.Itoa(s.mtu)
	}
	e := enginetest.Engine(b, netimpl.Options{
		Seed:       "bench/" + ns,
		HostNS:     ns,
		Predefined: []netimpl.NetworkSpec{def, {Name: "none", Driver: null.Name}},
	}, nil, br, mv, null.New())
	return &vhost{b: b, ns: ns, e: e}
}

// run makes a container on network, with --ip ip unless it is empty, and
// returns its namespace and address.
func (h *vhost) run(name, network, ip string) (string, netip.Addr) {
	h.b.Helper()
	h.n++
	sb, err := h.e.NewSandbox(netimpl.SandboxSpec{ContainerID: fmt.Sprintf("%s-%d", name, h.n), PinName: fmt.Sprintf("%s%s-%s", prefix, h.ns[len(netns.RunDir)+1+len(prefix):], name)})
	if err != nil {
		h.b.Fatal(err)
	}
	spec := netimpl.EndpointSpec{Name: name}
	if ip != "" {
		spec.IPv4 = netip.MustParseAddr(ip)
	}
	ep, err := h.e.Join(sb.ID, network, spec)
	if err != nil {
		h.b.Fatal(err)
	}
	a, _ := netip.AddrFromSlice(ep.Addr.IP)
	return sb.Key, a.Unmap()
}

// route adds dst via gw (empty: on-link) out of dev in the host.
func (h *vhost) route(dst, gw, dev string) { h.b.Helper(); nstest.Route(h.b, h.ns, dst, gw, dev) }
