package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Peer is an endpoint of the network on another host: its address and MAC
// inside the overlay, and the underlay address of its host (the VTEP).
type Peer struct {
	IP   netip.Addr
	MAC  net.HardwareAddr
	VTEP netip.Addr
}

func (p Peer) String() string { return fmt.Sprintf("%s %s via %s", p.IP, p.MAC, p.VTEP) }

func (p Peer) equal(o Peer) bool {
	return p.IP == o.IP && bytes.Equal(p.MAC, o.MAC) && p.VTEP == o.VTEP
}

// AddPeer makes a remote endpoint reachable: a permanent neighbour entry
// IP → MAC on vxlan0, then a permanent FDB entry MAC → VTEP on vxlan0
// (NTF_SELF), in that order, as Docker's peerAdd and flannel do, so that
// the kernel never resolves the address before it can forward to it. If
// the second step fails the first is undone. A peer on this host (VTEP =
// Config.Advertise) needs nothing and is ignored; a peer with the IP of an
// earlier one replaces it. Without a local endpoint on the network the
// peer is kept and programmed when the namespace is made.
func (d *Driver) AddPeer(networkID string, p Peer) error {
	if err := validPeer(p); err != nil {
		return fmt.Errorf("overlay network %s: peer %s: %w", networkID, p, err)
	}
	if d.cfg.Advertise.IsValid() && p.VTEP == d.cfg.Advertise {
		return nil
	}
	p.MAC = slices.Clone(p.MAC)
	d.mu.Lock()
	defer d.mu.Unlock()
	nw, ok := d.networks[networkID]
	if !ok {
		return fmt.Errorf("overlay network %s: unknown to the driver", networkID)
	}
	if !nw.subnet.Contains(p.IP) {
		return fmt.Errorf("overlay network %s: peer %s: address outside subnet %s", nw.name, p, nw.subnet)
	}
	old, had := nw.peers[p.IP]
	if had && old.equal(p) {
		return nil
	}
	if had && nw.sb != nil {
		// The neighbour entry is replaced in place; the old MAC's FDB
		// entry would stay and must go.
		if err := d.unprogramPeer(nw, old); err != nil {
			return fmt.Errorf("overlay network %s: replace peer %s: %w", nw.name, old, err)
		}
	}
	delete(nw.peers, p.IP)
	if nw.sb != nil {
		if err := d.programPeer(nw, p); err != nil {
			return fmt.Errorf("overlay network %s: %w", nw.name, err)
		}
	}
	nw.peers[p.IP] = p
	return nil
}

// RemovePeer removes a remote endpoint's FDB and neighbour entries (the
// reverse order of AddPeer) and forgets it. It acts only when the peer
// known for p.IP is p: a late removal of an endpoint whose address has
// since gone to another one leaves the newer one alone. Removing an
// unknown peer is not an error.
func (d *Driver) RemovePeer(networkID string, p Peer) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	nw, ok := d.networks[networkID]
	if !ok {
		return nil
	}
	cur, ok := nw.peers[p.IP]
	if !ok || !cur.equal(p) {
		return nil
	}
	if nw.sb != nil {
		if err := d.unprogramPeer(nw, cur); err != nil {
			return fmt.Errorf("overlay network %s: %w", nw.name, err)
		}
	}
	delete(nw.peers, p.IP)
	return nil
}

// Peers lists the remote endpoints the driver holds for a network, for a
// caller that reconciles them with its store.
func (d *Driver) Peers(networkID string) []Peer {
	d.mu.Lock()
	defer d.mu.Unlock()
	nw, ok := d.networks[networkID]
	if !ok {
		return nil
	}
	out := make([]Peer, 0, len(nw.peers))
	for _, p := range nw.peers {
		p.MAC = slices.Clone(p.MAC)
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Peer) int { return a.IP.Compare(b.IP) })
	return out
}

func validPeer(p Peer) error {
	switch {
	case !p.IP.Is4():
		return errors.New("want an IPv4 address")
	case len(p.MAC) != 6:
		return errors.New("want a 6-byte MAC")
	case p.MAC[0]&1 != 0:
		return errors.New("MAC is a multicast address")
	case !p.VTEP.Is4() || !p.VTEP.IsGlobalUnicast():
		return errors.New("VTEP: want a unicast IPv4 address")
	}
	return nil
}

// neighbour is the IP → MAC entry on vxlan0 that its ARP proxy answers from.
func (nw *network) neighbour(p Peer) *netlink.Neigh {
	return &netlink.Neigh{
		LinkIndex:    nw.sb.vxlan,
		Family:       unix.AF_INET,
		State:        netlink.NUD_PERMANENT,
		IP:           p.IP.AsSlice(),
		HardwareAddr: p.MAC,
	}
}

// fdb is the MAC → VTEP entry of vxlan0's own table (NTF_SELF, not the
// bridge's) that sends the peer's frames to its host.
func (nw *network) fdb(p Peer) *netlink.Neigh {
	return &netlink.Neigh{
		LinkIndex:    nw.sb.vxlan,
		Family:       unix.AF_BRIDGE,
		Flags:        netlink.NTF_SELF,
		State:        netlink.NUD_PERMANENT,
		IP:           p.VTEP.AsSlice(),
		HardwareAddr: p.MAC,
	}
}

// programPeer writes the neighbour entry, then the FDB entry; if the FDB
// entry fails the neighbour entry is deleted again.
func (d *Driver) programPeer(nw *network, p Peer) error {
	h := nw.sb.h
	if err := h.NeighSet(nw.neighbour(p)); err != nil {
		return fmt.Errorf("peer %s: neighbour on %s: %w", p, VXLANName, err)
	}
	if err := d.fdbSet(h, nw.fdb(p)); err != nil {
		if uerr := h.NeighDel(nw.neighbour(p)); uerr != nil && !isGone(uerr) {
			err = errors.Join(err, fmt.Errorf("undo neighbour: %w", uerr))
		}
		return fmt.Errorf("peer %s: FDB entry on %s: %w", p, VXLANName, err)
	}
	return nil
}

// unprogramPeer deletes the FDB entry, then the neighbour entry; entries
// that are gone already are fine.
func (d *Driver) unprogramPeer(nw *network, p Peer) error {
	h := nw.sb.h
	if err := h.NeighDel(nw.fdb(p)); err != nil && !isGone(err) {
		return fmt.Errorf("peer %s: delete FDB entry: %w", p, err)
	}
	if err := h.NeighDel(nw.neighbour(p)); err != nil && !isGone(err) {
		return fmt.Errorf("peer %s: delete neighbour: %w", p, err)
	}
	return nil
}
