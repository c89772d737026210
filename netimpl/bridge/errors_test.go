package bridge_test

import (
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/bridge"
	"github.com/nslab/nslab/netns/nstest"
)

// Every refused create leaves the host's links, the engine's networks and
// the address space as they were (texts and kinds observed on Docker 20.10,
// fixtures/docker-20.10/README.md).
func TestCreateErrorsLeaveNothing(t *testing.T) {
	h := newHost(t, "cerr", nil)
	h.create(netimpl.NetworkSpec{Name: "br5", Driver: "bridge", IPAM: netimpl.IPAM{Config: []netimpl.IPAMPool{{Subnet: "192.168.1.0/24", Gateway: "192.168.1.1"}}}})
	links, nets := h.linkNames(), len(h.e.Networks())
	pool := func(subnet, gw string) netimpl.IPAM {
		return netimpl.IPAM{Config: []netimpl.IPAMPool{{Subnet: subnet, Gateway: gw}}}
	}
	for _, c := range []struct {
		spec netimpl.NetworkSpec
		kind netimpl.Kind
		msg  string
	}{
		{netimpl.NetworkSpec{Name: "br5", Driver: "bridge"}, netimpl.KindConflict, "network with name br5 already exists"},
		{netimpl.NetworkSpec{Name: "x", Driver: "bridge", IPAM: pool("192.168.1.128/25", "")}, netimpl.KindForbidden, "Pool overlaps with other one on this address space"},
		{netimpl.NetworkSpec{Name: "x", Driver: "bridge", IPAM: pool("10.1.0.0/24", "10.0.0.1")}, netimpl.KindUnknown, "failed to allocate gateway (10.0.0.1): Requested address is out of range"},
		{netimpl.NetworkSpec{Name: "x", Driver: "bridge", IPAM: pool("10.12.0.0/24", "10.12.0.0")}, netimpl.KindUnknown, "failed to allocate gateway (10.12.0.0): Address already in use"},
		{netimpl.NetworkSpec{Name: "x", Driver: "bridge", IPAM: pool("192.168.1.0/33", "")}, netimpl.KindUnknown, "Invalid subnet 192.168.1.0/33 : invalid CIDR address: 192.168.1.0/33"},
		{netimpl.NetworkSpec{Name: "x", Driver: "nope"}, netimpl.KindNotFound, `plugin "nope" not found`},
		{netimpl.NetworkSpec{Name: "x", Driver: "bridge", IPAM: netimpl.IPAM{Driver: "foo"}}, netimpl.KindNotFound, `plugin "foo" not found`},
		{netimpl.NetworkSpec{Name: "x", Driver: "bridge", IPAM: netimpl.IPAM{Config: []netimpl.IPAMPool{{Subnet: "10.9.0.0/24"}, {Subnet: "10.10.0.0/24"}}}}, netimpl.KindForbidden, "bridge driver doesn't support multiple subnets"},
		{netimpl.NetworkSpec{Name: "x", Driver: "bridge", IPAM: netimpl.IPAM{Config: []netimpl.IPAMPool{{Subnet: "10.7.0.0/24", AuxAddresses: map[string]string{"a": "10.8.0.5"}}}}}, netimpl.KindForbidden, "auxiliary address: (a:10.8.0.5) must belong to the master pool: 10.7.0.0/24"},
		{netimpl.NetworkSpec{Name: "x", Driver: "bridge", IPAM: netimpl.IPAM{Config: []netimpl.IPAMPool{{Subnet: "10.13.0.0/24", IPRange: "bogus"}}}}, netimpl.KindUnknown, `failed to parse pool request for address space "LocalDefault" pool "10.13.0.0/24" subpool "bogus": Invalid Address SubPool`},
		{netimpl.NetworkSpec{Name: "x", Driver: "bridge", IPAM: pool("10.14.0.0/24", "bogus")}, netimpl.KindUnknown, "invalid gateway address bogus in Ipam configuration"},
		{netimpl.NetworkSpec{Name: "x", Driver: "bridge", Options: map[string]string{bridge.OptMTU: "abc"}}, netimpl.KindUnknown, `failed to parse com.docker.network.driver.mtu value: abc (strconv.Atoi: parsing "abc": invalid syntax)`},
		{netimpl.NetworkSpec{Name: "x", Driver: "bridge", Options: map[string]string{bridge.OptICC: "maybe"}}, netimpl.KindUnknown, `failed to parse com.docker.network.bridge.enable_icc value: maybe (strconv.ParseBool: parsing "maybe": invalid syntax)`},
		{netimpl.NetworkSpec{Name: "x", Driver: "bridge", Options: map[string]string{bridge.OptBridgeName: "docker0"}}, netimpl.KindForbidden, "bridge name docker0 is used by network bridge"},
		{netimpl.NetworkSpec{Name: "x", Driver: "bridge", Options: map[string]string{bridge.OptBridgeName: "lo"}}, netimpl.KindForbidden, "bridge name lo: the host has a link of that name"},
		{netimpl.NetworkSpec{Name: "x", Driver: "bridge", Options: map[string]string{bridge.OptBridgeName: "a-name-too-long-for-linux"}}, netimpl.KindInvalid, `invalid bridge name "a-name-too-long-for-linux": an interface name has 1 to 15 bytes`},
		{netimpl.NetworkSpec{Name: "host", Driver: "bridge"}, netimpl.KindForbidden, "operation is not permitted on predefined host network "},
	} {
		_, err := h.e.CreateNetwork(c.spec)
		wantErr(t, err, c.kind, c.msg)
		if l := h.linkNames(); !slices.Equal(l, links) {
			t.Fatalf("%s: links %v, before %v", c.msg, l, links)
		}
		if n := len(h.e.Networks()); n != nets {
			t.Fatalf("%s: %d networks, before %d", c.msg, n, nets)
		}
	}
	// The firewall refuses: the bridge goes again and the pool is free.
	h.fw.failAdd = true
	_, err := h.e.CreateNetwork(netimpl.NetworkSpec{Name: "x", Driver: "bridge", IPAM: pool("10.20.0.0/24", "")})
	if err == nil {
		t.Fatal("create with a failing firewall succeeded")
	}
	h.fw.failAdd = false
	if l := h.linkNames(); !slices.Equal(l, links) {
		t.Fatalf("after a firewall failure: links %v, before %v", l, links)
	}
	// None of the refused requests kept a pool or an address: the ones
	// they asked for, and the default pools the others were handed (each
	// moves Docker's start of the next default pool on, as libnetwork's
	// allocator does), can all be had again.
	for _, subnet := range []string{"10.1.0.0/24", "10.12.0.0/24", "10.9.0.0/24", "10.7.0.0/24", "10.20.0.0/24",
		"172.18.0.0/16", "172.19.0.0/16", "172.20.0.0/16", "172.21.0.0/16", "172.22.0.0/16"} {
		n := h.create(netimpl.NetworkSpec{Name: "ok" + subnet[3:5], Driver: "bridge", IPAM: pool(subnet, "")})
		if err := h.e.DeleteNetwork(n.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.create(netimpl.NetworkSpec{Name: "auto", Driver: "bridge"}); !strings.HasPrefix(n.Pools[0].Subnet.String(), "172.") {
		t.Fatalf("next default pool %s", n.Pools[0].Subnet)
	}
}

// Refused joins leave no veth, no interface in the sandbox and no address
// taken (status texts of Docker 20.10's container start).
func TestJoinErrorsLeaveNothing(t *testing.T) {
	h := newHost(t, "jerr", nil)
	h.create(netimpl.NetworkSpec{Name: "br5", Driver: "bridge", IPAM: netimpl.IPAM{Config: []netimpl.IPAMPool{{
		Subnet: "192.168.1.0/24", Gateway: "192.168.1.1", IPRange: "192.168.1.128/25", AuxAddresses: map[string]string{"x": "192.168.1.129"},
	}}}})
	h.create(netimpl.NetworkSpec{Name: "auto", Driver: "bridge"})
	a1 := h.sandbox("a1")
	if ep, err := h.e.Join(a1.ID, "br5", netimpl.EndpointSpec{Name: "a1", IPv4: addr("192.168.1.50")}); err != nil || ep.Addr.String() != "192.168.1.50/24" {
		t.Fatalf("--ip outside the range but inside the subnet: %v %v", ep.Addr, err)
	}
	links := h.linkNames()
	a2 := h.sandbox("a2")
	for _, c := range []struct {
		network string
		spec    netimpl.EndpointSpec
		kind    netimpl.Kind
		msg     string
	}{
		{"br5", netimpl.EndpointSpec{Name: "a2", IPv4: addr("192.168.1.50")}, netimpl.KindForbidden, "Address already in use"},
		{"br5", netimpl.EndpointSpec{Name: "a2", IPv4: addr("192.168.1.129")}, netimpl.KindForbidden, "Address already in use"},
		{"br5", netimpl.EndpointSpec{Name: "a2", IPv4: addr("192.168.1.1")}, netimpl.KindForbidden, "Address already in use"},
		{"br5", netimpl.EndpointSpec{Name: "a2", IPv4: addr("10.9.9.9")}, netimpl.KindUnknown, "Invalid address 10.9.9.9: It does not belong to any of this network's subnets"},
		{"auto", netimpl.EndpointSpec{Name: "a2", IPv4: addr("172.18.0.9")}, netimpl.KindInvalid, "user specified IP address is supported only when connecting to networks with user configured subnets"},
		{"br5", netimpl.EndpointSpec{Name: "a1"}, netimpl.KindForbidden, "endpoint with name a1 already exists in network br5"},
		{"br5", netimpl.EndpointSpec{Name: "a2", MAC: net.HardwareAddr{1, 0, 0, 0, 0, 1}}, netimpl.KindInvalid, "invalid mac address: 01:00:00:00:00:01 is not a unicast Ethernet address"},
		{"nope", netimpl.EndpointSpec{Name: "a2"}, netimpl.KindNotFound, "network nope not found"},
	} {
		_, err := h.e.Join(a2.ID, c.network, c.spec)
		wantErr(t, err, c.kind, c.msg)
		if l := h.linkNames(); !slices.Equal(l, links) {
			t.Fatalf("%s: links %v, before %v", c.msg, l, links)
		}
		if l := nstest.LinkNames(t, a2.Key); len(l) != 1 {
			t.Fatalf("%s: sandbox has %v", c.msg, l)
		}
	}
	// Nothing was taken: the next address is the range's first free one
	// (.128; .129 is the auxiliary address), with the MAC asked for.
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x77}
	ep, err := h.e.Join(a2.ID, "br5", netimpl.EndpointSpec{Name: "a2", MAC: mac})
	if err != nil || ep.Addr.String() != "192.168.1.128/24" || ep.MAC.String() != mac.String() {
		t.Fatalf("join after the errors: %+v %v", ep, err)
	}
	if got := nstest.Link(t, a2.Key, "eth0").Attrs().HardwareAddr.String(); got != mac.String() {
		t.Fatalf("eth0 MAC %s", got)
	}
	for _, sb := range []netimpl.Sandbox{a1, a2} {
		if err := h.e.DeleteSandbox(sb.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// A default pool that overlaps one of the host's routes is skipped, as
// libnetwork's CheckRouteOverlaps does.
func TestPoolsSkipHostRoutes(t *testing.T) {
	h := newHost(t, "route", nil)
	nl := nstest.Handle(t, h.ns)
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "up0"
	attrs.Flags = net.FlagUp
	if err := nl.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "up1"}); err != nil {
		t.Fatal(err)
	}
	up0, err := nl.LinkByName("up0")
	if err != nil {
		t.Fatal(err)
	}
	ip, ipn, _ := net.ParseCIDR("172.18.5.1/24")
	ipn.IP = ip
	if err := nl.AddrAdd(up0, &netlink.Addr{IPNet: ipn}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nl.LinkDel(up0) })
	if n := h.create(netimpl.NetworkSpec{Name: "br1", Driver: "bridge"}); n.Pools[0].Subnet.String() != "172.19.0.0/16" {
		t.Fatalf("got %s; 172.18.0.0/16 overlaps the host's route to 172.18.5.0/24", n.Pools[0].Subnet)
	}
	// An explicit subnet is the user's choice, route or not.
	if n := h.create(netimpl.NetworkSpec{Name: "br2", Driver: "bridge", IPAM: netimpl.IPAM{Config: []netimpl.IPAMPool{{Subnet: "172.18.0.0/16"}}}}); n.Pools[0].Subnet.String() != "172.18.0.0/16" {
		t.Fatalf("explicit subnet: %s", n.Pools[0].Subnet)
	}
	if err := nl.LinkDel(up0); err != nil {
		t.Fatal(err)
	}
}

// A delete that fails (here the firewall's) leaves the network with the
// engine and the driver, as libnetwork's bridge driver keeps it: the bridge
// itself is gone, the rules are still there, and `docker network rm` tried
// again removes them.
func TestDeleteNetworkFailureKeepsNetwork(t *testing.T) {
	h := newHost(t, "derr", nil)
	n := h.create(netimpl.NetworkSpec{Name: "br1", Driver: "bridge"})
	name := "br-" + n.ID[:12]
	h.fw.failRemove = true
	if err := h.e.DeleteNetwork("br1"); err == nil {
		t.Fatal("delete with a failing firewall succeeded")
	}
	h.fw.failRemove = false
	if _, err := nstest.Handle(t, h.ns).LinkByName(name); err == nil {
		t.Errorf("%s still there after a delete whose firewall step failed", name)
	}
	if _, ok := h.fw.nets[name]; !ok {
		t.Fatalf("the firewall lost %s's rules although it refused to remove them", name)
	}
	if _, err := h.e.Network("br1"); err != nil {
		t.Fatalf("the engine forgot br1 after a failed delete: %v", err)
	}
	if err := h.e.DeleteNetwork("br1"); err != nil {
		t.Fatalf("delete again: %v", err)
	}
	if _, ok := h.fw.nets[name]; ok {
		t.Errorf("the second delete left %s's rules", name)
	}
	if _, err := h.e.Network("br1"); netimpl.KindOf(err) != netimpl.KindNotFound {
		t.Errorf("br1 after the second delete: %v", err)
	}
}
