package overlay

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netns/kernel"
	"github.com/nslab/nslab/netns/nstest"
)

// When the FDB step fails, AddPeer undoes the neighbour entry it made and
// does not keep the peer: the kernel and the driver agree afterwards.
func TestAddPeerUndoesNeighbourWhenFDBFails(t *testing.T) {
	nstest.NeedRoot(t)
	prefix := nstest.Prefix("ovl")
	hostNS := nstest.NewNS(t, prefix, "undo")
	d, err := New(Config{HostNS: hostNS, NSPrefix: prefix + "undo-"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	n := &netimpl.Network{
		ID:      "0123456789abcdef0123456789abcdef",
		Name:    "ov_undo",
		Options: map[string]string{OptVXLANIDList: "256"},
		Pools: []netimpl.AddressPool{{
			Subnet:  netip.MustParsePrefix("10.0.0.0/24"),
			Gateway: netip.MustParseAddr("10.0.0.1"),
		}},
	}
	if err := d.CreateNetwork(n); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.DeleteNetwork(n); err != nil {
			t.Error(err)
		}
	}()
	d.mu.Lock()
	nw := d.networks[n.ID]
	_, err = d.ensureSandbox(nw)
	d.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}

	d.fdbSet = func(*netlink.Handle, *netlink.Neigh) error { return unix.ENOBUFS }
	mac, _ := net.ParseMAC("02:42:0a:00:00:03")
	p := Peer{IP: netip.MustParseAddr("10.0.0.3"), MAC: mac, VTEP: netip.MustParseAddr("192.168.8.148")}
	err = d.AddPeer(n.ID, p)
	if !errors.Is(err, unix.ENOBUFS) || !strings.Contains(err.Error(), "FDB entry") {
		t.Fatalf("AddPeer with a failing FDB step: %v", err)
	}
	if got := d.Peers(n.ID); len(got) != 0 {
		t.Errorf("peer kept after a failed AddPeer: %v", got)
	}
	neigh, err := kernel.Neighbours(nw.sb.path, VXLANName, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	if len(neigh) != 0 {
		t.Errorf("neighbour entries left after the undo: %v", neigh)
	}

	// The same peer goes in once the FDB step works.
	d.fdbSet = func(h *netlink.Handle, n *netlink.Neigh) error { return h.NeighSet(n) }
	if err := d.AddPeer(n.ID, p); err != nil {
		t.Fatal(err)
	}
	fdb, err := kernel.Neighbours(nw.sb.path, VXLANName, unix.AF_BRIDGE)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(fdb, func(e kernel.Neighbour) bool { return e.MAC == "02:42:0a:00:00:03" && e.IP == "192.168.8.148" }) {
		t.Errorf("FDB after a working AddPeer: %v", fdb)
	}
}
