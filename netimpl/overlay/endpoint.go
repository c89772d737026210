package overlay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl"
)

// Join makes the network's namespace if this is its first local endpoint,
// then the endpoint's veth pair: "vethN" a port of br0, the other side
// made right inside the sandbox as ep.IfName with ep.MAC, both with the
// network's MTU; the sandbox side then gets ep.Addr and comes up. The
// default route is the engine's. On error the pair, and a namespace made
// for it, are removed again.
func (d *Driver) Join(n *netimpl.Network, ep *netimpl.Endpoint, sb *netimpl.Sandbox) error {
	if err := ep.CheckAddressed(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	nw, ok := d.networks[n.ID]
	if !ok {
		return fmt.Errorf("overlay network %s: unknown to the driver", n.Name)
	}
	if a, ok := netip.AddrFromSlice(ep.Addr.IP.To4()); !ok || !nw.subnet.Contains(a) {
		return fmt.Errorf("endpoint %s: address %s outside subnet %s", ep.Name, ep.Addr, nw.subnet)
	}
	if _, dup := nw.endpoints[ep.ID]; dup {
		return fmt.Errorf("endpoint %s: joined already", ep.ID)
	}
	sbh, err := sb.Netlink()
	if err != nil {
		return err
	}
	created, err := d.ensureSandbox(nw)
	if err != nil {
		return err
	}
	undo := func() {
		if created {
			d.destroySandbox(nw)
		}
	}
	name, err := d.addVeth(nw, ep, sb.Key)
	if err != nil {
		undo()
		return err
	}
	undoVeth := func() {
		if l, err := nw.sb.h.LinkByName(name); err == nil {
			nw.sb.h.LinkDel(l)
		}
		undo()
	}
	peer, err := sbh.LinkByName(ep.IfName)
	if err != nil {
		undoVeth()
		return fmt.Errorf("sandbox %s: %s: %w", sb.Key, ep.IfName, err)
	}
	if err := netimpl.SetupLink(sbh, peer, ep); err != nil {
		undoVeth()
		return fmt.Errorf("sandbox %s: %w", sb.Key, err)
	}
	nw.endpoints[ep.ID] = name
	return nil
}

// addVeth creates the pair from inside the network's namespace: its side
// named vethN, up and a port of br0, its peer born in the sandbox.
func (d *Driver) addVeth(nw *network, ep *netimpl.Endpoint, sandboxKey string) (string, error) {
	fd, err := unix.Open(sandboxKey, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("sandbox %s: %w", sandboxKey, err)
	}
	defer unix.Close(fd)
	for {
		name := fmt.Sprintf("%s%d", vethPrefix, nw.sb.nextVeth)
		nw.sb.nextVeth++
		la := netlink.NewLinkAttrs()
		la.Name = name
		la.MTU = nw.mtu
		la.MasterIndex = nw.sb.bridge
		la.Flags = net.FlagUp
		v := &netlink.Veth{LinkAttrs: la, PeerName: ep.IfName, PeerHardwareAddr: ep.MAC, PeerNamespace: netlink.NsFd(fd)}
		err := nw.sb.h.LinkAdd(v)
		if errors.Is(err, unix.EEXIST) {
			// Only a left-over of a failed join can hold the name: the
			// counter never goes back.
			if _, lerr := nw.sb.h.LinkByName(name); lerr == nil {
				continue
			}
		}
		if err != nil {
			// The library sets the master after the create: a failure
			// there leaves the pair, which must not stay.
			if l, lerr := nw.sb.h.LinkByName(name); lerr == nil {
				nw.sb.h.LinkDel(l)
			}
			return "", fmt.Errorf("veth %s to %s: %w", name, ep.IfName, err)
		}
		return name, nil
	}
}

// Leave deletes the endpoint's veth pair (its sandbox side goes with it);
// after the network's last local endpoint, the namespace goes too, as in
// Docker. What is gone already is not an error.
func (d *Driver) Leave(n *netimpl.Network, ep *netimpl.Endpoint, sb *netimpl.Sandbox) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	nw, ok := d.networks[n.ID]
	if !ok || nw.sb == nil {
		return nil
	}
	name, ok := nw.endpoints[ep.ID]
	if !ok {
		return nil
	}
	if l, err := nw.sb.h.LinkByName(name); err == nil {
		if err := nw.sb.h.LinkDel(l); err != nil && !isGone(err) {
			return fmt.Errorf("delete %s in %s: %w", name, nw.nsName, err)
		}
	} else if !isGone(err) {
		return fmt.Errorf("%s in %s: %w", name, nw.nsName, err)
	}
	delete(nw.endpoints, ep.ID)
	if len(nw.endpoints) == 0 {
		return d.destroySandbox(nw)
	}
	return nil
}
