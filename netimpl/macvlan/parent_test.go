package macvlan_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/macvlan"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/nstest"
)

// Where the kernel has no 802.1Q (this machine), `-o parent=eth1.10`
// fails with an error that says so, and nothing is made.
func TestVLANParentUnsupported(t *testing.T) {
	if err := macvlan.VLANProbe(); err == nil {
		t.Skip("this kernel has 802.1Q VLANs: TestVLANParent covers it")
	}
	h1, _ := segment(t, "node1", "node3")
	_, err := h1.e.CreateNetwork(macvlanNet("macvlan10", "1.1.10.0/24", "1.1.10.1", "eth1.10", ""))
	wantErr(t, err, netimpl.KindUnknown, "failed to create eth1.10 vlan link: operation not supported: this kernel has no 802.1Q VLAN support (module 8021q)")
	h1.sameLinks("lo", "eth1")
}

// Where the kernel has 802.1Q: `-o parent=eth1.10` creates eth1.10 (VLAN
// 10 on eth1, up) on both hosts, containers on it ping each other across
// the segment with tagged frames, and removing the network removes
// eth1.10; a sub-interface the user made stays.
func TestVLANParent(t *testing.T) {
	if err := macvlan.VLANProbe(); err != nil {
		t.Skipf("needs 802.1Q VLANs: %v", err)
	}
	h1, h2 := segment(t, "node1", "node3")
	for _, h := range []*vhost{h1, h2} {
		h.create(macvlanNet("macvlan10", "1.1.10.0/24", "1.1.10.1", "eth1.10", ""))
		v, ok := nstest.Link(t, h.ns, "eth1.10").(*netlink.Vlan)
		if !ok || v.VlanId != 10 || v.Attrs().Flags&net.FlagUp == 0 || v.Attrs().ParentIndex != nstest.Link(t, h.ns, "eth1").Attrs().Index {
			t.Fatalf("%s eth1.10: %+v", h.ns, nstest.Link(t, h.ns, "eth1.10"))
		}
	}
	c1, _ := h1.run("c1", "macvlan10", "1.1.10.100")
	h2.run("c2", "macvlan10", "1.1.10.200")
	ping(t, c1.Key, "1.1.10.200")

	// A sub-interface of the user's is used as it is and kept.
	nl := h1.handle()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "eth1.20"
	attrs.ParentIndex = nstest.Link(t, h1.ns, "eth1").Attrs().Index
	if err := nl.LinkAdd(&netlink.Vlan{LinkAttrs: attrs, VlanId: 20}); err != nil {
		t.Fatal(err)
	}
	h1.create(macvlanNet("macvlan20", "1.1.20.0/24", "", "eth1.20", ""))
	if err := h1.e.DeleteNetwork("macvlan20"); err != nil {
		t.Fatal(err)
	}
	nstest.Link(t, h1.ns, "eth1.20")
	if err := nl.LinkDel(nstest.Link(t, h1.ns, "eth1.20")); err != nil {
		t.Fatal(err)
	}

	// Closing the engines removes the networks and with them eth1.10.
	for _, h := range []*vhost{h1, h2} {
		if err := h.e.Close(); err != nil {
			t.Fatal(err)
		}
		h.sameLinks("lo", "eth1")
	}
}

// A network without -o parent, or --internal, gets the dummy parent
// dm-<12 hex of its id>, removed with it. Where the kernel has no dummy
// links (this machine) the create fails with an error that says so.
func TestDummyParent(t *testing.T) {
	h1, _ := segment(t, "node1", "node3")
	dummies := dummySupport()
	for _, c := range []struct {
		name     string
		parent   string
		internal bool
	}{
		{"noparent", "", false},
		{"internal", "eth1", true},
	} {
		spec := macvlanNet(c.name, "10.20.0.0/24", "", c.parent, "")
		spec.Internal = c.internal
		n, err := h1.e.CreateNetwork(spec)
		if dummies != nil {
			if err == nil || !strings.Contains(err.Error(), "this kernel has no dummy link support") || netimpl.KindOf(err) != netimpl.KindUnknown {
				t.Fatalf("%s: want the missing dummy support reported (%v), got %v", c.name, dummies, err)
			}
			h1.sameLinks("lo", "eth1")
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		dm := "dm-" + n.ID[:12]
		if p, _ := h1.drv.Parent(n.ID); p != dm || nstest.Link(t, h1.ns, dm).Type() != "dummy" {
			t.Fatalf("%s: parent %q", c.name, p)
		}
		if err := h1.e.DeleteNetwork(c.name); err != nil {
			t.Fatal(err)
		}
		h1.sameLinks("lo", "eth1")
	}
}

// dummySupport is nil when the kernel makes dummy links, else why not.
func dummySupport() error {
	return netns.DoFresh(func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		attrs := netlink.NewLinkAttrs()
		attrs.Name = "dmprobe"
		err = h.LinkAdd(&netlink.Dummy{LinkAttrs: attrs})
		if err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
			return nil // another failure says nothing about support
		}
		return err
	})
}
