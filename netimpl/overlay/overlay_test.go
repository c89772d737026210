package overlay_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/overlay"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/capture"
	"github.com/nslab/nslab/netns/nstest"
	"github.com/nslab/nslab/netns/probe"
)

// pair is a classic overlay on two hosts (node1, node2): one overlay network
// (10.0.0.0/24, VNI 256) on both, a container on each, peers programmed
// both ways.
type pair struct {
	h1, h2 *vhost
	c1, c2 *container
}

func newPair(t *testing.T) pair {
	h1, h2 := newHosts(t)
	n1 := h1.network("ov_net1", "10.0.0.0/24", 256)
	n2 := h2.network("ov_net1", "10.0.0.0/24", 256)
	c1 := h1.run("c1", n1, "10.0.0.2")
	c2 := h2.run("c2", n2, "10.0.0.3")
	h1.addPeer(n1.ID, c2)
	h2.addPeer(n2.ID, c1)
	return pair{h1, h2, c1, c2}
}

// [E21] Containers on two hosts ping each other over VXLAN; the underlay
// carries UDP 4789 with the network's VNI; the first echo request crosses
// without any flooding.
func TestPingOverVXLAN(t *testing.T) {
	p := newPair(t)
	// No wait: a join returns with both ends of the container's veth
	// ready, its bridge port enabled (netns.SyncLink), so the very first
	// request is answered even on a loaded machine.
	capt, err := capture.Start(p.h1.ns, "eth1", capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := probe.Ping(context.Background(), p.c1.sb.Key, p.c2.ip(),
		// One request a second: on a loaded machine the first reply may take
		// more than the default 100 ms, and it is the first one that counts.
		probe.Opts{Timeout: 5 * time.Second, Interval: time.Second, Try: time.Second})
	if err != nil {
		capt.Stop()
		t.Fatal(err)
	}
	pkts, err := capt.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("c1 → c2 over VXLAN: first reply to request %d, after %d request(s), rtt %v", r.Seq, r.Tries, r.RTT)
	if r.Seq != 1 {
		// The neighbour entry answers ARP at once and the FDB entry sends
		// the first frame: nothing to wait for. (A slow reply to the first
		// request may come after a second was sent, on a loaded machine:
		// what counts is which request it answers.)
		t.Errorf("first echo reply answered request %d, want the first", r.Seq)
	}

	frames := vxlanFrames(pkts)
	var out, back int
	for _, f := range frames {
		if f.vni != 256 {
			t.Errorf("VXLAN packet with VNI %d, want 256: %+v", f.vni, f)
		}
		if f.innerDst[0]&1 != 0 || f.innerARP {
			t.Errorf("flooded or ARP frame crossed the underlay: %+v", f)
		}
		switch {
		case f.icmp && f.outerSrc == node1 && f.outerDst == node2 && f.innerSrcIP == p.c1.ip() && f.innerDstIP == p.c2.ip():
			out++
		case f.icmp && f.outerSrc == node2 && f.outerDst == node1 && f.innerSrcIP == p.c2.ip() && f.innerDstIP == p.c1.ip():
			back++
		}
	}
	if out == 0 || back == 0 {
		t.Fatalf("underlay capture: %d echo requests 192.168.8.150→148 and %d replies back in VXLAN (of %d packets, %d VXLAN)",
			out, back, len(pkts), len(frames))
	}
	t.Logf("underlay eth1 of node1: %d packets, all %d on UDP %d with VNI 256", len(pkts), len(frames), overlay.VXLANPort)
}

// [E21] The kernel state of an overlay network's namespace, as
// `ip netns exec 1-<id> ...` shows it on Docker:
// br0 with the gateway, vxlan0 in it with Docker's flags, a veth per
// container, and static entries for the remote container.
func TestNetworkNamespace(t *testing.T) {
	p := newPair(t)
	ns := p.h1.ovns(p.c1.net)
	if want := netns.Path(prefix + "node1-ov-" + p.c1.net.ID[:12]); ns != want {
		t.Errorf("namespace %s, want %s", ns, want)
	}
	if links := p.h1.linkNames(ns); !slicesEqual(links, []string{"br0", "lo", "veth0", "vxlan0"}) {
		t.Errorf("links in the network's namespace: %v, want br0 lo veth0 vxlan0", links)
	}
	br := nstest.Link(t, ns, "br0")
	if br.Type() != "bridge" || br.Attrs().Flags&1 == 0 {
		t.Errorf("br0: type %s flags %v", br.Type(), br.Attrs().Flags)
	}
	if addrs := nstest.Addrs(t, ns, br); !slicesEqual(addrs, []string{"10.0.0.1/24"}) {
		t.Errorf("br0 addresses %v, want the gateway 10.0.0.1/24", addrs)
	}
	vx, ok := nstest.Link(t, ns, "vxlan0").(*netlink.Vxlan)
	if !ok {
		t.Fatalf("vxlan0 is not a VXLAN device")
	}
	got := fmt.Sprintf("id %d port %d learning %v proxy %v l2miss %v l3miss %v mtu %d master %v",
		vx.VxlanId, vx.Port, vx.Learning, vx.Proxy, vx.L2miss, vx.L3miss, vx.MTU, vx.MasterIndex == br.Attrs().Index)
	if want := "id 256 port 4789 learning false proxy true l2miss true l3miss true mtu 1450 master true"; got != want {
		t.Errorf("vxlan0: %s\nwant    %s", got, want)
	}
	veth := nstest.Link(t, ns, "veth0")
	if veth.Attrs().MasterIndex != br.Attrs().Index || veth.Attrs().MTU != 1450 {
		t.Errorf("veth0: master %d mtu %d, want br0 (%d) and 1450", veth.Attrs().MasterIndex, veth.Attrs().MTU, br.Attrs().Index)
	}
	eth0 := nstest.Link(t, p.c1.sb.Key, "eth0")
	if eth0.Attrs().MTU != 1450 || eth0.Attrs().HardwareAddr.String() != "02:42:0a:00:00:02" {
		t.Errorf("c1 eth0: mtu %d mac %s, want 1450 and 02:42:0a:00:00:02", eth0.Attrs().MTU, eth0.Attrs().HardwareAddr)
	}
	// Made as a pair in the host and moved, as Docker does: the two ends
	// keep the neighbouring indexes they took there, the container's the
	// lower ("6: eth0@if7" in the container, "7: veth0@if6" here).
	if e, v := eth0.Attrs(), veth.Attrs(); e.ParentIndex != v.Index || v.ParentIndex != e.Index || v.Index != e.Index+1 {
		t.Errorf("c1 eth0 is %d@if%d, veth0 %d@if%d: want neighbours, eth0 the lower", e.Index, e.ParentIndex, v.Index, v.ParentIndex)
	}
	if ep := p.c1.ep; ep.IfIndex != eth0.Attrs().Index || !strings.HasPrefix(ep.SrcName, "veth") || len(ep.SrcName) != 11 {
		t.Errorf("endpoint: index %d, source name %q; want %d and veth + 7 hex", ep.IfIndex, ep.SrcName, eth0.Attrs().Index)
	}

	if got, want := fdb(t, ns), "02:42:0a:00:00:03 dst 192.168.8.148 permanent self"; !containsLine(got, want) {
		t.Errorf("FDB of vxlan0: %v, want %q", got, want)
	}
	if got := neighbours(t, ns); !slicesEqual(got, []string{"10.0.0.3 lladdr 02:42:0a:00:00:03 permanent"}) {
		t.Errorf("neighbours of vxlan0: %v", got)
	}
	// The other side points back at node1.
	if got, want := fdb(t, p.h2.ovns(p.c2.net)), "02:42:0a:00:00:02 dst 192.168.8.150 permanent self"; !containsLine(got, want) {
		t.Errorf("FDB of vxlan0 on node2: %v, want %q", got, want)
	}

	// The VXLAN socket is the host's: port 4789 is bound in node1's own
	// namespace, none in the network's.
	if !udpBound(t, p.h1.ns, overlay.VXLANPort) {
		t.Error("UDP 4789 is not bound in node1's namespace")
	}
	if udpBound(t, ns, overlay.VXLANPort) {
		t.Error("UDP 4789 is bound inside the network's namespace; want the host's")
	}
}

// [E21] RemovePeer takes the remote container away: a ping that must fail
// waits its whole deadline; AddPeer brings it back.
func TestRemovePeer(t *testing.T) {
	p := newPair(t)
	ctx := context.Background()
	if err := probe.ExpectReachable(ctx, p.c1.sb.Key, p.c2.ip()); err != nil {
		t.Fatal(err)
	}
	ns := p.h1.ovns(p.c1.net)
	if err := p.h1.drv.RemovePeer(p.c1.net.ID, p.c2.peer()); err != nil {
		t.Fatal(err)
	}
	if got := fdb(t, ns); containsPrefix(got, "02:42:0a:00:00:03") {
		t.Errorf("FDB after RemovePeer: %v", got)
	}
	if got := neighbours(t, ns); len(got) != 0 {
		t.Errorf("neighbours after RemovePeer: %v", got)
	}
	start := time.Now()
	if err := probe.ExpectUnreachable(ctx, p.c1.sb.Key, p.c2.ip(), probe.Opts{Timeout: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	t.Logf("c2 silent for %v after RemovePeer on node1", time.Since(start).Round(time.Millisecond))
	// Removing again, or a stale peer for the address, changes nothing.
	if err := p.h1.drv.RemovePeer(p.c1.net.ID, p.c2.peer()); err != nil {
		t.Fatal(err)
	}
	p.h1.addPeer(p.c1.net.ID, p.c2)
	if err := probe.ExpectReachable(ctx, p.c1.sb.Key, p.c2.ip()); err != nil {
		t.Fatalf("after AddPeer again: %v", err)
	}
	stale := p.c2.peer()
	stale.VTEP = netip.MustParseAddr("192.168.8.99")
	if err := p.h1.drv.RemovePeer(p.c1.net.ID, stale); err != nil {
		t.Fatal(err)
	}
	if got := p.h1.drv.Peers(p.c1.net.ID); len(got) != 1 || !got[0].IP.IsValid() || got[0].VTEP != node2 {
		t.Errorf("a stale removal touched the peer: %v", got)
	}
}

// A peer that moves to another host (same IP, new MAC and VTEP) replaces
// the old entries; local peers and bad peers are refused or ignored.
func TestPeerReplaceAndValidate(t *testing.T) {
	h1, _ := newHosts(t)
	n := h1.network("ov_net1", "10.0.0.0/24", 256)
	c1 := h1.run("c1", n, "10.0.0.2")
	ns := h1.ovns(n)
	mac := func(s string) []byte {
		m, _ := net.ParseMAC(s)
		return m
	}
	a := overlay.Peer{IP: netip.MustParseAddr("10.0.0.3"), MAC: mac("02:42:0a:00:00:03"), VTEP: node2}
	if err := h1.drv.AddPeer(n.ID, a); err != nil {
		t.Fatal(err)
	}
	b := overlay.Peer{IP: a.IP, MAC: mac("02:42:0a:00:00:33"), VTEP: netip.MustParseAddr("192.168.8.151")}
	if err := h1.drv.AddPeer(n.ID, b); err != nil {
		t.Fatal(err)
	}
	if got := fdb(t, ns); containsPrefix(got, "02:42:0a:00:00:03") || !containsLine(got, "02:42:0a:00:00:33 dst 192.168.8.151 permanent self") {
		t.Errorf("FDB after the peer moved: %v", got)
	}
	if got := neighbours(t, ns); !slicesEqual(got, []string{"10.0.0.3 lladdr 02:42:0a:00:00:33 permanent"}) {
		t.Errorf("neighbours after the peer moved: %v", got)
	}
	// c1 itself, announced by the store with node1's own address.
	if err := h1.drv.AddPeer(n.ID, c1.peer()); err != nil {
		t.Fatal(err)
	}
	if got := neighbours(t, ns); len(got) != 1 {
		t.Errorf("a local peer got entries: %v", got)
	}
	for _, bad := range []overlay.Peer{
		{IP: netip.MustParseAddr("10.0.1.3"), MAC: mac("02:42:0a:00:01:03"), VTEP: node2}, // outside the subnet
		{IP: netip.MustParseAddr("10.0.0.4"), MAC: mac("01:00:5e:00:00:01"), VTEP: node2}, // multicast MAC
		{IP: netip.MustParseAddr("10.0.0.4"), MAC: mac("02:42:0a:00:00:04"), VTEP: netip.MustParseAddr("224.0.0.1")},
		{IP: netip.MustParseAddr("10.0.0.4"), MAC: mac("02:42:0a:00:00:04")}, // no VTEP
	} {
		if err := h1.drv.AddPeer(n.ID, bad); err == nil {
			t.Errorf("AddPeer(%v) succeeded", bad)
		}
	}
	if err := h1.drv.AddPeer("no-such-network", a); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Errorf("AddPeer on an unknown network: %v", err)
	}
	if got := len(h1.drv.Peers(n.ID)); got != 1 {
		t.Errorf("%d peers recorded, want 1", got)
	}
}

// [E21] Two overlay networks with different VNIs on the same two hosts are
// isolated: a frame that network A's node1 sends towards a container of
// network B crosses the underlay with A's VNI, and node2 hands it to A's
// bridge, where nobody has that MAC.
func TestIsolation(t *testing.T) {
	h1, h2 := newHosts(t)
	a1n, a2n := h1.network("net_a", "10.0.0.0/24", 256), h2.network("net_a", "10.0.0.0/24", 256)
	b1n, b2n := h1.network("net_b", "10.0.1.0/24", 257), h2.network("net_b", "10.0.1.0/24", 257)
	a1, a2 := h1.run("a1", a1n, "10.0.0.2"), h2.run("a2", a2n, "10.0.0.3")
	b1, b2 := h1.run("b1", b1n, "10.0.1.2"), h2.run("b2", b2n, "10.0.1.3")
	h1.addPeer(a1n.ID, a2)
	h2.addPeer(a2n.ID, a1)
	h1.addPeer(b1n.ID, b2)
	h2.addPeer(b2n.ID, b1)
	ctx := context.Background()
	for _, c := range [][2]*container{{a1, a2}, {a2, a1}, {b1, b2}, {b2, b1}} {
		if err := probe.ExpectReachable(ctx, c[0].sb.Key, c[1].ip()); err != nil {
			t.Fatalf("%s → %s in its own network: %v", c[0].name, c[1].name, err)
		}
	}

	// b2 also answers to 10.0.0.9 and node1's network A is told that
	// 10.0.0.9 is b2's MAC behind node2: only the VNI keeps them apart.
	nstest.Addr(t, b2.sb.Key, "eth0", "10.0.0.9/24")
	intruder := overlay.Peer{IP: netip.MustParseAddr("10.0.0.9"), MAC: b2.ep.MAC, VTEP: node2}
	if err := h1.drv.AddPeer(a1n.ID, intruder); err != nil {
		t.Fatal(err)
	}
	under, err := capture.Start(h2.ns, "eth1", capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	atB2, err := capture.Start(b2.sb.Key, "eth0", capture.Options{})
	if err != nil {
		under.Stop()
		t.Fatal(err)
	}
	err = probe.ExpectUnreachable(ctx, a1.sb.Key, intruder.IP, probe.Opts{Timeout: 1500 * time.Millisecond})
	underPkts, uerr := under.Stop()
	b2Pkts, berr := atB2.Stop()
	if err != nil || uerr != nil || berr != nil {
		t.Fatal(err, uerr, berr)
	}
	var crossed int
	for _, f := range vxlanFrames(underPkts) {
		if f.innerDstIP == intruder.IP {
			crossed++
			if f.vni != 256 || f.innerDst.String() != b2.ep.MAC.String() {
				t.Errorf("frame for 10.0.0.9: VNI %d to %s, want VNI 256 to %s", f.vni, f.innerDst, b2.ep.MAC)
			}
		}
	}
	if crossed == 0 {
		t.Fatal("no frame for 10.0.0.9 reached node2: the check proves nothing")
	}
	for _, p := range b2Pkts {
		if ip, ok := capture.Decode(p).Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok && ip.DstIP.String() == "10.0.0.9" {
			t.Fatalf("b2 (network B) received network A's packet: %v", ip)
		}
	}
	t.Logf("%d echo requests for 10.0.0.9 crossed with VNI 256 to b2's MAC; none reached b2 on VNI 257's bridge", crossed)
}

// Docker's lifecycle: the namespace exists from the first local join to
// the last leave; peers outlive it and come back with it; deleting the
// network leaves no namespace and no link behind.
func TestLifecycle(t *testing.T) {
	h1, h2 := newHosts(t)
	n1, n2 := h1.network("ov_net1", "10.0.0.0/24", 256), h2.network("ov_net1", "10.0.0.0/24", 256)
	if _, ok := h1.drv.Namespace(n1.ID); ok || len(leftovers("ov-")) != 0 {
		t.Fatalf("a namespace exists before any container joined: %v", leftovers("ov-"))
	}
	c2 := h2.run("c2", n2, "10.0.0.3")
	// node1 learns of c2 before it has a container of its own.
	h1.addPeer(n1.ID, c2)
	c1 := h1.run("c1", n1, "10.0.0.2")
	h2.addPeer(n2.ID, c1)
	ctx := context.Background()
	if err := probe.ExpectReachable(ctx, c1.sb.Key, c2.ip()); err != nil {
		t.Fatalf("peer added before the namespace existed: %v", err)
	}
	ns := h1.ovns(n1)
	c1.stop()
	if _, err := os.Stat(ns); !os.IsNotExist(err) {
		t.Fatalf("namespace %s after the last container left: %v", ns, err)
	}
	if links := h1.linkNames(h1.ns); !slicesEqual(links, []string{"eth1", "lo"}) {
		t.Errorf("node1's links with no container: %v", links)
	}
	c1 = h1.run("c1", n1, "10.0.0.2")
	if err := probe.ExpectReachable(ctx, c1.sb.Key, c2.ip()); err != nil {
		t.Fatalf("after the namespace came back: %v", err)
	}
	if got := h1.linkNames(h1.ovns(n1)); !slicesEqual(got, []string{"br0", "lo", "veth0", "vxlan0"}) {
		t.Errorf("links of the new namespace: %v (veth numbers restart with it, as osl's)", got)
	}
	c1.stop()
	c2.stop()
	for _, h := range []*vhost{h1, h2} {
		if err := h.e.DeleteNetwork("ov_net1"); err != nil {
			t.Fatal(err)
		}
		if links := h.linkNames(h.ns); !slicesEqual(links, []string{"eth1", "lo"}) {
			t.Errorf("%s after delete: links %v", h.name, links)
		}
	}
	if left := leftovers("ov-"); len(left) != 0 {
		t.Errorf("namespaces left: %v", left)
	}
	// The VNI is free again at once: a new network takes it.
	n3 := h1.network("ov_net2", "10.0.0.0/24", 256)
	c3 := h1.run("c3", n3, "10.0.0.2")
	c3.stop()
}

// The driver refuses what it cannot build, before it builds anything.
func TestCreateNetworkErrors(t *testing.T) {
	h1, _ := newHosts(t)
	h1.network("ov_a", "10.0.0.0/24", 300)
	for _, tc := range []struct {
		opts map[string]string
		want string
	}{
		{map[string]string{overlay.OptVXLANIDList: "0"}, "invalid vxlan id"},
		{map[string]string{overlay.OptVXLANIDList: "16777216"}, "invalid vxlan id"},
		{map[string]string{overlay.OptVXLANIDList: "301,302"}, "one subnet, one id"},
		{map[string]string{overlay.OptVXLANIDList: "300"}, "VXLAN id 300 is network ov_a's"},
		{map[string]string{overlay.OptVXLANIDList: "301", overlay.OptMTU: "100"}, "invalid MTU"},
	} {
		_, err := h1.e.CreateNetwork(netimplSpec("ov_b", "10.0.1.0/24", tc.opts))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("options %v: error %v, want %q", tc.opts, err, tc.want)
		}
	}
	// Without a VNI the network is made, as Docker's classic overlay makes
	// it before anyone joins; its first join needs one, given with SetVNI,
	// which must be free.
	late, err := h1.e.CreateNetwork(netimplSpec("ov_late", "10.0.3.0/24", nil))
	if err != nil {
		t.Fatal(err)
	}
	sb, err := h1.e.NewSandbox(netimpl.SandboxSpec{ContainerID: "early", PinName: prefix + "node1-early"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h1.e.Join(sb.ID, late.ID, netimpl.EndpointSpec{Name: "early", IPv4: netip.MustParseAddr("10.0.3.2")}); err == nil || !strings.Contains(err.Error(), "no VXLAN id yet") {
		t.Errorf("join before the VNI: %v, want no VXLAN id yet", err)
	}
	if err := h1.e.DeleteSandbox(sb.ID); err != nil {
		t.Fatal(err)
	}
	if err := h1.drv.SetVNI(late.ID, 300); err == nil || !strings.Contains(err.Error(), "VXLAN id 300 is network ov_a's") {
		t.Errorf("SetVNI to ov_a's VNI: %v", err)
	}
	if err := h1.drv.SetVNI(late.ID, 303); err != nil {
		t.Fatal(err)
	}
	cl := h1.run("late", late, "10.0.3.2")
	if vx, ok := nstest.Link(t, h1.ovns(late), "vxlan0").(*netlink.Vxlan); !ok || vx.VxlanId != 303 {
		t.Errorf("vxlan0 of ov_late: %v, want VXLAN id 303", nstest.Link(t, h1.ovns(late), "vxlan0"))
	}
	if err := h1.drv.SetVNI(late.ID, 304); err == nil {
		t.Error("SetVNI changed the VNI of a network in use")
	}
	cl.stop()

	// OptMTU sets the underlay MTU the devices fit into.
	n, err := h1.e.CreateNetwork(netimplSpec("ov_c", "10.0.2.0/24", map[string]string{overlay.OptVXLANIDList: "302", overlay.OptMTU: "9000"}))
	if err != nil {
		t.Fatal(err)
	}
	c := h1.run("c", n, "10.0.2.2")
	if mtu := nstest.Link(t, c.sb.Key, "eth0").Attrs().MTU; mtu != 8950 {
		t.Errorf("eth0 MTU %d with %s=9000, want 8950", mtu, overlay.OptMTU)
	}
	c.stop()
}

func containsLine(list []string, want string) bool {
	for _, l := range list {
		if l == want {
			return true
		}
	}
	return false
}

func containsPrefix(list []string, p string) bool {
	for _, l := range list {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// udpBound reports whether a UDP socket is bound to port in ns, from
// /proc/net/udp read by a thread inside it.
func udpBound(t testing.TB, ns string, port int) bool {
	t.Helper()
	var b []byte
	err := netns.Do(ns, func() (err error) {
		b, err = os.ReadFile("/proc/thread-self/net/udp")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(":%04X ", port)
	for _, l := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) > 2 && strings.HasSuffix(f[1]+" ", want) {
			return true
		}
	}
	return false
}

// A namespace left pinned by an earlier, killed daemon, with its VXLAN
// device still holding the VNI on the host's port, is cleared away by the
// first join, as Docker's cleanupStaleSandboxes does.
func TestStaleNamespaceFromEarlierLife(t *testing.T) {
	h1, h2 := newHosts(t)
	n1, n2 := h1.network("ov_net1", "10.0.0.0/24", 256), h2.network("ov_net1", "10.0.0.0/24", 256)
	stale, err := netns.NewNamed(h1.drv.NamespaceName(n1.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer netns.Delete(stale) // only if the driver failed to
	fd, err := os.Open(stale)
	if err != nil {
		t.Fatal(err)
	}
	la := netlink.NewLinkAttrs()
	la.Name = "vxlan0"
	la.Namespace = netlink.NsFd(fd.Fd())
	err = nstest.Handle(t, h1.ns).LinkAdd(&netlink.Vxlan{LinkAttrs: la, VxlanId: 256, Port: overlay.VXLANPort})
	fd.Close()
	if err != nil {
		t.Fatal(err)
	}
	c1 := h1.run("c1", n1, "10.0.0.2")
	c2 := h2.run("c2", n2, "10.0.0.3")
	h1.addPeer(n1.ID, c2)
	h2.addPeer(n2.ID, c1)
	if err := probe.ExpectReachable(context.Background(), c1.sb.Key, c2.ip()); err != nil {
		t.Fatal(err)
	}
}
