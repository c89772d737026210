package macvlan_test

import (
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/macvlan"
	"github.com/nslab/nslab/netns/nstest"
)

// macvlan on two hosts: `docker network create -d macvlan --subnet
// 1.1.1.0/24 --gateway 1.1.1.1 -o parent=eth1 macvlan1` on each, a
// container with --ip 1.1.1.100 on one and 1.1.1.200 on the other. Each
// gets eth0, a macvlan in bridge mode, with Docker's MAC, the address and a
// default route via the gateway; they ping each other across the segment,
// and the hosts keep nothing but their eth1.
func TestTwoHostsPing(t *testing.T) {
	h1, h2 := segment(t, "node1", "node3")
	for _, h := range []*vhost{h1, h2} {
		n := h.create(macvlanNet("macvlan1", "1.1.1.0/24", "1.1.1.1", "eth1", ""))
		if n.Scope != "local" || n.Pools[0].Gateway.String() != "1.1.1.1" || n.Options[macvlan.OptParent] != "eth1" {
			t.Fatalf("network %+v", n)
		}
		if p, ok := h.drv.Parent(n.ID); !ok || p != "eth1" {
			t.Fatalf("driver parent %q %v", p, ok)
		}
	}
	c1, ep1 := h1.run("busybox", "macvlan1", "1.1.1.100")
	c2, _ := h2.run("busybox", "macvlan1", "1.1.1.200")
	if ep1.Addr.String() != "1.1.1.100/24" || ep1.MAC.String() != "02:42:01:01:01:64" || ep1.Gateway.String() != "1.1.1.1" || ep1.IfName != "eth0" {
		t.Fatalf("endpoint %+v", ep1)
	}
	for _, c := range []struct {
		ns, addr, mac string
	}{{c1.Key, "1.1.1.100/24", "02:42:01:01:01:64"}, {c2.Key, "1.1.1.200/24", "02:42:01:01:01:c8"}} {
		eth0 := nstest.Link(t, c.ns, "eth0")
		mv, ok := eth0.(*netlink.Macvlan)
		if !ok || mv.Mode != netlink.MACVLAN_MODE_BRIDGE {
			t.Fatalf("%s eth0 is %s %+v, want a macvlan in bridge mode", c.ns, eth0.Type(), eth0)
		}
		if eth0.Attrs().HardwareAddr.String() != c.mac || eth0.Attrs().Flags&net.FlagUp == 0 {
			t.Fatalf("%s eth0: mac %s flags %v", c.ns, eth0.Attrs().HardwareAddr, eth0.Attrs().Flags)
		}
		if a := addrs(t, c.ns, eth0); !slices.Equal(a, []string{c.addr}) {
			t.Fatalf("%s eth0 addresses %v", c.ns, a)
		}
		if g := defaultGateway(t, c.ns); g != "[via 1.1.1.1 dev eth0]" {
			t.Fatalf("%s default route %s", c.ns, g)
		}
		if names := nstest.LinkNames(t, c.ns); !slices.Equal(names, []string{"eth0", "lo"}) {
			t.Fatalf("%s links %v", c.ns, names)
		}
	}
	// The parent of eth0 is the host's eth1: its IFLA_LINK is eth1's index
	// in the host, and the host keeps no temporary link.
	if eth0, eth1 := nstest.Link(t, c1.Key, "eth0"), nstest.Link(t, h1.ns, "eth1"); eth0.Attrs().ParentIndex != eth1.Attrs().Index {
		t.Fatalf("eth0's parent index %d, host eth1 is %d", eth0.Attrs().ParentIndex, eth1.Attrs().Index)
	}
	h1.sameLinks("lo", "eth1")
	h2.sameLinks("lo", "eth1")
	ping(t, c1.Key, "1.1.1.200")
	ping(t, c2.Key, "1.1.1.100")
}

// A host cannot reach its own macvlan children: with an address of the
// subnet on eth1, node1 reaches the container on node3 but not its own
// (silence for the whole deadline), and node3 reaches node1's container.
func TestHostCannotReachOwnChild(t *testing.T) {
	h1, h2 := segment(t, "node1", "node3")
	for _, h := range []*vhost{h1, h2} {
		h.create(macvlanNet("macvlan1", "1.1.1.0/24", "1.1.1.1", "eth1", ""))
	}
	h1.run("busybox", "macvlan1", "1.1.1.100")
	h2.run("busybox", "macvlan1", "1.1.1.200")
	nstest.Addr(t, h1.ns, "eth1", "1.1.1.11/24")
	nstest.Addr(t, h2.ns, "eth1", "1.1.1.12/24")
	ping(t, h1.ns, "1.1.1.200")
	ping(t, h2.ns, "1.1.1.100")
	noPing(t, h1.ns, "1.1.1.100")
	noPing(t, h2.ns, "1.1.1.200")
}

// The modes: two containers on one host's parent talk to each other in
// bridge mode, not in private mode, and not in VEPA mode either when the
// next switch (here the other host's eth1) does not send frames back; all
// of them reach the other host's container. Passthru gives the parent to
// one container only.
func TestModes(t *testing.T) {
	for _, c := range []struct {
		mode      string
		kernel    netlink.MacvlanMode
		neighbour bool
	}{
		{"", netlink.MACVLAN_MODE_BRIDGE, true},
		{macvlan.ModeBridge, netlink.MACVLAN_MODE_BRIDGE, true},
		{macvlan.ModePrivate, netlink.MACVLAN_MODE_PRIVATE, false},
		{macvlan.ModeVEPA, netlink.MACVLAN_MODE_VEPA, false},
	} {
		t.Run("mode="+c.mode, func(t *testing.T) {
			h1, h2 := segment(t, "a", "b")
			h1.create(macvlanNet("mv", "10.9.0.0/24", "", "eth1", c.mode))
			h2.create(macvlanNet("mv", "10.9.0.0/24", "", "eth1", ""))
			a1, _ := h1.run("a1", "mv", "")
			a2, ep2 := h1.run("a2", "mv", "")
			_, epb := h2.run("b1", "mv", "10.9.0.50")
			if ep2.Addr.String() != "10.9.0.3/24" {
				t.Fatalf("second container got %s, want 10.9.0.3/24 (gateway .1)", ep2.Addr)
			}
			if mv := nstest.Link(t, a2.Key, "eth0").(*netlink.Macvlan); mv.Mode != c.kernel {
				t.Fatalf("mode %d, want %d", mv.Mode, c.kernel)
			}
			ping(t, a1.Key, epb.Addr.IP.String())
			if c.neighbour {
				ping(t, a1.Key, "10.9.0.3")
			} else {
				noPing(t, a1.Key, "10.9.0.3")
			}
		})
	}
	t.Run("mode=passthru", func(t *testing.T) {
		h1, _ := segment(t, "a", "b")
		h1.create(macvlanNet("mv", "10.9.0.0/24", "", "eth1", macvlan.ModePassthru))
		a1, _ := h1.run("a1", "mv", "")
		if mv := nstest.Link(t, a1.Key, "eth0").(*netlink.Macvlan); mv.Mode != netlink.MACVLAN_MODE_PASSTHRU {
			t.Fatalf("mode %d, want passthru", mv.Mode)
		}
		sb := h1.sandbox("a2")
		_, err := h1.e.Join(sb.ID, "mv", netimpl.EndpointSpec{Name: "a2"})
		if err == nil || !strings.Contains(err.Error(), "failed to create the macvlan port: ") {
			t.Fatalf("second passthru join: %v", err)
		}
		h1.sameLinks("lo", "eth1")
		if names := nstest.LinkNames(t, sb.Key); !slices.Equal(names, []string{"lo"}) {
			t.Fatalf("failed join left %v", names)
		}
	})
}

// --aux-address keeps an address from containers; Leave removes the link
// and frees the address for the next container.
func TestAuxAddressAndLeave(t *testing.T) {
	h1, _ := segment(t, "node1", "node3")
	spec := macvlanNet("macvlan1", "1.1.1.0/24", "1.1.1.1", "eth1", "")
	spec.IPAM.Config[0].AuxAddresses = map[string]string{"router": "1.1.1.2"}
	h1.create(spec)
	sb, ep := h1.run("c1", "macvlan1", "")
	if ep.Addr.String() != "1.1.1.3/24" {
		t.Fatalf("first container got %s, want 1.1.1.3/24 (gateway .1, aux .2)", ep.Addr)
	}
	if err := h1.e.Leave(sb.ID, "macvlan1"); err != nil {
		t.Fatal(err)
	}
	if names := nstest.LinkNames(t, sb.Key); !slices.Equal(names, []string{"lo"}) {
		t.Fatalf("after leave the sandbox has %v", names)
	}
	h1.sameLinks("lo", "eth1")
	_, ep = h1.run("c2", "macvlan1", "")
	if ep.Addr.String() != "1.1.1.3/24" {
		t.Fatalf("after leave the next container got %s, want 1.1.1.3/24 again", ep.Addr)
	}
}

// A join that fails after the link was moved into the sandbox (its
// name is taken there) deletes the link and frees the address.
func TestJoinUndo(t *testing.T) {
	h1, _ := segment(t, "node1", "node3")
	h1.create(macvlanNet("macvlan1", "1.1.1.0/24", "1.1.1.1", "eth1", ""))
	sb := h1.sandbox("c1")
	// Something called eth0 is in the sandbox already.
	nl := h1.handle()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "tmpa"
	fd, err := openNS(sb.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	if err := nl.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(fd.Fd()))}); err != nil {
		t.Fatal(err)
	}
	_, err = h1.e.Join(sb.ID, "macvlan1", netimpl.EndpointSpec{Name: "c1", IPv4: mustAddr("1.1.1.100")})
	if err == nil || !strings.Contains(err.Error(), "rename") {
		t.Fatalf("join: %v", err)
	}
	if names := nstest.LinkNames(t, sb.Key); !slices.Equal(names, []string{"eth0", "lo"}) {
		t.Fatalf("failed join left %v in the sandbox", names)
	}
	h1.sameLinks("lo", "eth1", "tmpa")
	if err := nl.LinkDel(nstest.Link(t, h1.ns, "tmpa")); err != nil {
		t.Fatal(err)
	}
	sb2, ep := h1.run("c2", "macvlan1", "1.1.1.100")
	if ep.Addr.String() != "1.1.1.100/24" {
		t.Fatalf("the address of the failed join is still taken: %s", ep.Addr)
	}
	if names := nstest.LinkNames(t, sb2.Key); !slices.Equal(names, []string{"eth0", "lo"}) {
		t.Fatalf("sandbox links %v", names)
	}
}

// Bad options and parents fail with libnetwork's messages and leave
// nothing behind.
func TestCreateErrors(t *testing.T) {
	h1, _ := segment(t, "node1", "node3")
	first := h1.create(macvlanNet("macvlan1", "1.1.1.0/24", "1.1.1.1", "eth1", ""))
	for _, c := range []struct {
		parent, mode string
		msg          string
	}{
		{"eth1", "", "network dm-" + first.ID[:12] + " is already using parent interface eth1"},
		{"eth2", "nat", "requested macvlan mode 'nat' is not valid, 'bridge' mode is the macvlan driver default"},
		{"lo", "", "loopback interface is not a valid macvlan parent link"},
		{"eth9", "", "invalid subinterface vlan name eth9, example formatting is eth0.10"},
		{"averyverylongparent", "", "invalid subinterface vlan name averyverylongparent, example formatting is eth0.10"},
		{"eth9.10", "", "-o parent interface does was not found on the host: eth9"},
		{"eth1.x", "", "unable to parse a valid vlan id from: x (ex. eth0.10 for vlan 10)"},
		{"eth1.1.2", "", "required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, instead received eth1.1.2"},
		{"eth1.4095", "", "vlan id must be between 1-4094, received: 4095"},
	} {
		_, err := h1.e.CreateNetwork(macvlanNet("macvlan2", "1.1.2.0/24", "", c.parent, c.mode))
		wantErr(t, err, netimpl.KindUnknown, c.msg)
		h1.sameLinks("lo", "eth1")
	}
	// The failed creates gave their pool back, and the parent is free
	// again once macvlan1 is gone.
	if err := h1.e.DeleteNetwork("macvlan1"); err != nil {
		t.Fatal(err)
	}
	h1.create(macvlanNet("macvlan2", "1.1.2.0/24", "", "eth1", ""))
	h1.sameLinks("lo", "eth1")
}
