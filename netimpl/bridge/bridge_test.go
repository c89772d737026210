package bridge_test

import (
	"context"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/bridge"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
	"github.com/nslab/nslab/netns/nstest"
	"github.com/nslab/nslab/netns/probe"
)

var vethRE = regexp.MustCompile(`^veth[0-9a-f]{7}$`)

// The default network as dockerd makes it: docker0, up, 02:42 MAC,
// 172.17.0.1/16; inspect's IPAM shows the elected subnet only.
func TestDefaultBridge(t *testing.T) {
	h := newHost(t, "def", nil)
	br := nstest.Link(t, h.ns, "docker0")
	if br.Type() != "bridge" || br.Attrs().Flags&net.FlagUp == 0 || !strings.HasPrefix(br.Attrs().HardwareAddr.String(), "02:42:") {
		t.Fatalf("docker0: %s %v %s", br.Type(), br.Attrs().Flags, br.Attrs().HardwareAddr)
	}
	if a := nstest.Addrs(t, h.ns, br); !slices.Equal(a, []string{"172.17.0.1/16"}) {
		t.Fatalf("docker0 addresses %v", a)
	}
	n, err := h.e.Network("bridge")
	if err != nil {
		t.Fatal(err)
	}
	if c := n.IPAM.Config; len(c) != 1 || c[0].Subnet != "172.17.0.0/16" || c[0].Gateway != "" || c[0].IPRange != "" || n.Options[bridge.OptBridgeName] != "docker0" {
		t.Fatalf("bridge network %+v", n)
	}
	fwd, err := readIn(h.ns, "/proc/sys/net/ipv4/ip_forward")
	if err != nil || fwd != "1" {
		t.Fatalf("ip_forward in the host namespace: %q %v", fwd, err)
	}
	if r := h.fw.nets["docker0"]; r.Subnet.String() != "172.17.0.0/16" || !r.ICC || !r.Masquerade || r.Internal {
		t.Fatalf("firewall got %+v", r)
	}
}

// --bip 172.18.0.1/16: the default network takes that subnet and gateway,
// and the first user network then gets 172.17.0.0/16.
func TestDefaultBridgeBIP(t *testing.T) {
	h := newHost(t, "bip", []netimpl.IPAMPool{{Subnet: "172.18.0.0/16", Gateway: "172.18.0.1"}})
	if a := nstest.Addrs(t, h.ns, nstest.Link(t, h.ns, "docker0")); !slices.Equal(a, []string{"172.18.0.1/16"}) {
		t.Fatalf("docker0 addresses %v", a)
	}
	n := h.create(netimpl.NetworkSpec{Name: "br1", Driver: "bridge"})
	if n.Pools[0].Subnet.String() != "172.17.0.0/16" || n.Pools[0].Gateway != addr("172.17.0.1") {
		t.Fatalf("br1 pools %+v", n.Pools)
	}
}

// Two containers on docker0: eth0 with .2 and .3, Docker's MACs, default
// route via the gateway; the host sides are veths, ports of docker0; they
// ping each other and the gateway. Leaving removes the veth and frees the
// address for the next container.
func TestJoinDefaultBridge(t *testing.T) {
	h := newHost(t, "join", nil)
	cm01, cm02 := h.sandbox("cm01"), h.sandbox("cm02")
	ep1, ep2 := h.join(cm01, "bridge", "cm01"), h.join(cm02, "bridge", "cm02")
	if ep1.Addr.String() != "172.17.0.2/16" || ep2.Addr.String() != "172.17.0.3/16" || ep1.MAC.String() != "02:42:ac:11:00:02" || ep1.Gateway.String() != "172.17.0.1" {
		t.Fatalf("endpoints %+v %+v", ep1, ep2)
	}
	for _, c := range []struct {
		sb        netimpl.Sandbox
		addr, mac string
	}{{cm01, "172.17.0.2/16", "02:42:ac:11:00:02"}, {cm02, "172.17.0.3/16", "02:42:ac:11:00:03"}} {
		eth0 := nstest.Link(t, c.sb.Key, "eth0")
		if ep := h.e.SandboxEndpoints(c.sb.ID); len(ep) != 1 || ep[0].IfIndex != eth0.Attrs().Index {
			t.Fatalf("%s: endpoint reports index %v, eth0 has %d", c.sb.Key, ep, eth0.Attrs().Index)
		}
		if eth0.Attrs().HardwareAddr.String() != c.mac || eth0.Attrs().Flags&net.FlagUp == 0 || eth0.Type() != "veth" {
			t.Fatalf("%s eth0: %s %v %s", c.sb.Key, eth0.Attrs().HardwareAddr, eth0.Attrs().Flags, eth0.Type())
		}
		// Made as a pair in the host and moved, as Docker does: eth0 keeps
		// the index it took there, one below its host side's
		// ("11: eth0@if12" in the container, "12: veth70d07a7@if11").
		host, err := nstest.Handle(t, h.ns).LinkByIndex(eth0.Attrs().ParentIndex)
		if err != nil || host.Attrs().ParentIndex != eth0.Attrs().Index || host.Attrs().Index != eth0.Attrs().Index+1 || eth0.Attrs().Index == 2 {
			t.Fatalf("%s: eth0 is %d@if%d, its host side %v (%v): want neighbours from the host's numbers", c.sb.Key, eth0.Attrs().Index, eth0.Attrs().ParentIndex, host, err)
		}
		if a := nstest.Addrs(t, c.sb.Key, eth0); !slices.Equal(a, []string{c.addr}) {
			t.Fatalf("%s eth0 addresses %v", c.sb.Key, a)
		}
		if r := defaultRoute(t, c.sb.Key); r != "via 172.17.0.1 dev eth0" {
			t.Fatalf("%s default route %q", c.sb.Key, r)
		}
		// Docker 20.10 turns IPv6 off in its containers: no link-local
		// address on eth0, no ::1 on lo.
		if v6, err := kernel.Addrs(c.sb.Key, netlink.FAMILY_V6); err != nil || len(v6) != 0 {
			t.Fatalf("%s IPv6 addresses %v %v", c.sb.Key, v6, err)
		}
	}
	ports := bridgePorts(t, h.ns, "docker0")
	if len(ports) != 2 || !vethRE.MatchString(ports[0]) || !vethRE.MatchString(ports[1]) {
		t.Fatalf("docker0 ports %v", ports)
	}
	ctx := context.Background()
	for _, p := range []struct {
		from string
		to   string
	}{{cm01.Key, "172.17.0.3"}, {cm02.Key, "172.17.0.2"}, {cm01.Key, "172.17.0.1"}} {
		if _, err := probe.Ping(ctx, p.from, addr(p.to), probe.Opts{}); err != nil {
			t.Fatal(err)
		}
	}

	if err := h.e.Leave(cm01.ID, "bridge"); err != nil {
		t.Fatal(err)
	}
	if ports := bridgePorts(t, h.ns, "docker0"); len(ports) != 1 {
		t.Fatalf("after leave docker0 has ports %v", ports)
	}
	if _, err := nstest.Handle(t, cm01.Key).LinkByName("eth0"); err == nil {
		t.Fatal("eth0 still in cm01 after leave")
	}
	cm03 := h.sandbox("cm03")
	if ep := h.join(cm03, "bridge", "cm03"); ep.Addr.String() != "172.17.0.2/16" {
		t.Fatalf("freed address not reused: %s", ep.Addr)
	}
	for _, sb := range []netimpl.Sandbox{cm01, cm02, cm03} {
		if err := h.e.DeleteSandbox(sb.ID); err != nil {
			t.Fatal(err)
		}
	}
	if links := h.linkNames(); !slices.Equal(links, []string{"docker0", "lo"}) {
		t.Fatalf("host links after the sandboxes went: %v", links)
	}
}

// A user network: br-<12 hex> with its gateway; connect and disconnect
// add and remove ethN; the default route follows Docker's choice (network
// names in order: br1 before bridge); rm removes the bridge.
func TestUserNetworkConnectDisconnect(t *testing.T) {
	h := newHost(t, "user", nil)
	br1 := h.create(netimpl.NetworkSpec{Name: "br1", Driver: "bridge", Labels: map[string]string{"lab": "e05"}})
	name := "br-" + br1.ID[:12]
	if a := nstest.Addrs(t, h.ns, nstest.Link(t, h.ns, name)); !slices.Equal(a, []string{"172.18.0.1/16"}) {
		t.Fatalf("%s addresses %v", name, a)
	}
	if br1.Labels["lab"] != "e05" || br1.Pools[0].Gateway != addr("172.18.0.1") {
		t.Fatalf("br1 %+v", br1)
	}
	cm01 := h.sandbox("cm01")
	h.join(cm01, "bridge", "cm01")
	ep := h.join(cm01, "br1", "cm01")
	if ep.IfName != "eth1" || ep.Addr.String() != "172.18.0.2/16" {
		t.Fatalf("br1 endpoint %+v", ep)
	}
	if a := nstest.Addrs(t, cm01.Key, nstest.Link(t, cm01.Key, "eth1")); !slices.Equal(a, []string{"172.18.0.2/16"}) {
		t.Fatalf("eth1 addresses %v", a)
	}
	if r := defaultRoute(t, cm01.Key); r != "via 172.18.0.1 dev eth1" {
		t.Fatalf("default route with br1 joined: %q", r)
	}
	if p := bridgePorts(t, h.ns, name); len(p) != 1 {
		t.Fatalf("%s ports %v", name, p)
	}
	wantErr(t, h.e.DeleteNetwork("br1"), netimpl.KindForbidden, "error while removing network: network br1 id "+br1.ID+" has active endpoints")
	if err := h.e.Leave(cm01.ID, "br1"); err != nil {
		t.Fatal(err)
	}
	if r := defaultRoute(t, cm01.Key); r != "via 172.17.0.1 dev eth0" {
		t.Fatalf("default route after leaving br1: %q", r)
	}
	if _, err := nstest.Handle(t, cm01.Key).LinkByName("eth1"); err == nil {
		t.Fatal("eth1 still there")
	}
	if err := h.e.Leave(cm01.ID, "bridge"); err != nil {
		t.Fatal(err)
	}
	if r := defaultRoute(t, cm01.Key); r != "" {
		t.Fatalf("default route with no network: %q", r)
	}
	if ep := h.join(cm01, "br1", "cm01"); ep.IfName != "eth2" {
		t.Fatalf("rejoin got %s, want eth2 (numbers only grow)", ep.IfName)
	}
	if r := defaultRoute(t, cm01.Key); r != "via 172.18.0.1 dev eth2" {
		t.Fatalf("default route %q", r)
	}
	if err := h.e.DeleteSandbox(cm01.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.e.DeleteNetwork("br1"); err != nil {
		t.Fatal(err)
	}
	if _, err := nstest.Handle(t, h.ns).LinkByName(name); err == nil {
		t.Fatalf("%s still there after rm", name)
	}
	if _, ok := h.fw.nets[name]; ok {
		t.Fatal("firewall still holds br1")
	}
	// Docker's next default pool is the one after the last handed out;
	// br1's is free again for whoever asks for it.
	if n := h.create(netimpl.NetworkSpec{Name: "br2", Driver: "bridge"}); n.Pools[0].Subnet.String() != "172.19.0.0/16" {
		t.Fatalf("the next default pool after br1's: %s, want 172.19.0.0/16", n.Pools[0].Subnet)
	}
	h.create(netimpl.NetworkSpec{Name: "br3", Driver: "bridge", IPAM: netimpl.IPAM{Config: []netimpl.IPAMPool{{Subnet: "172.18.0.0/16"}}}})
}

// Options: a bridge name of the user's, the MTU on both veth ends,
// internal, ICC and masquerade handed to the firewall. Docker 20.10 gives
// an internal network's containers the gateway and its default route too;
// only the firewall keeps them in.
func TestOptions(t *testing.T) {
	h := newHost(t, "opts", nil)
	h.create(netimpl.NetworkSpec{Name: "jumbo", Driver: "bridge", Internal: true, Options: map[string]string{
		bridge.OptBridgeName: "br-jumbo", bridge.OptMTU: "9000", bridge.OptICC: "false", bridge.OptMasquerade: "false",
	}})
	if r := h.fw.nets["br-jumbo"]; !r.Internal || r.ICC || r.Masquerade {
		t.Fatalf("firewall got %+v", r)
	}
	sb := h.sandbox("j1")
	h.join(sb, "jumbo", "j1")
	if mtu := nstest.Link(t, sb.Key, "eth0").Attrs().MTU; mtu != 9000 {
		t.Fatalf("container side mtu %d", mtu)
	}
	ports := bridgePorts(t, h.ns, "br-jumbo")
	if len(ports) != 1 || nstest.Link(t, h.ns, ports[0]).Attrs().MTU != 9000 {
		t.Fatalf("host side of br-jumbo: %v", ports)
	}
	if r := defaultRoute(t, sb.Key); r != "via 172.18.0.1 dev eth0" {
		t.Fatalf("internal network default route %q", r)
	}
	if err := h.e.DeleteSandbox(sb.ID); err != nil {
		t.Fatal(err)
	}
}

// Two bridges are separate L2 domains: each container reaches its own
// bridge's peers. Without firewall rules the host routes between them,
// which is why Docker's isolation is the firewall's job.
func TestTwoBridgesAreTwoSegments(t *testing.T) {
	h := newHost(t, "two", nil)
	h.create(netimpl.NetworkSpec{Name: "br1", Driver: "bridge"})
	a, b, c := h.sandbox("a"), h.sandbox("b"), h.sandbox("c")
	h.join(a, "bridge", "a")
	h.join(b, "bridge", "b")
	h.join(c, "br1", "c")
	ctx := context.Background()
	if _, err := probe.Ping(ctx, a.Key, addr("172.17.0.3"), probe.Opts{}); err != nil {
		t.Fatal(err)
	}
	// c is not on docker0: a's packets to it leave through the gateway,
	// and ARP from a never sees c on its segment.
	nb, err := kernel.Neighbours(a.Key, "", netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nb {
		if n.IP == "172.18.0.2" {
			t.Fatalf("a resolved c on its own segment: %+v", n)
		}
	}
	for _, sb := range []netimpl.Sandbox{a, b, c} {
		if err := h.e.DeleteSandbox(sb.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// bridgePorts lists the names of the links whose master is the bridge.
func bridgePorts(t *testing.T, ns, name string) []string {
	t.Helper()
	links, err := kernel.Links(ns)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(links, func(l kernel.Link) bool { return l.Name == name }) {
		t.Fatalf("%s: no bridge %s", ns, name)
	}
	var out []string
	for _, l := range links {
		if l.Master == name {
			if !l.Up {
				t.Errorf("port %s of %s is down", l.Name, name)
			}
			out = append(out, l.Name)
		}
	}
	slices.Sort(out)
	return out
}

// readIn reads a file from a thread inside the namespace (for /proc/sys/net).
func readIn(ns, path string) (string, error) {
	var s string
	err := netns.Do(ns, func() error {
		b, err := os.ReadFile(path)
		s = strings.TrimSpace(string(b))
		return err
	})
	return s, err
}
