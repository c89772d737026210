package bridge

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl"
)

// Join makes the endpoint's veth pair: the host side, named like Docker's
// ("veth" and 7 hex), up and a port of the network's bridge; the other side
// created right inside the sandbox as ep.IfName with ep.MAC, then given
// ep.Addr and brought up. Both sides get the network's MTU. The default
// route is the engine's. On error the pair is deleted again.
func (d *Driver) Join(n *netimpl.Network, ep *netimpl.Endpoint, sb *netimpl.Sandbox) error {
	if err := ep.CheckAddressed(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	nw, ok := d.networks[n.ID]
	if !ok {
		return fmt.Errorf("bridge network %s: unknown to the driver", n.Name)
	}
	if _, dup := nw.veths[ep.ID]; dup {
		return fmt.Errorf("endpoint %s: joined already", ep.ID)
	}
	sbh, nsfd, err := netimpl.OpenSandbox(sb)
	if err != nil {
		return err
	}
	defer unix.Close(nsfd)

	name, index, err := d.addVeth(nw, ep, nsfd)
	if err != nil {
		return err
	}
	undo := func() { d.deleteLink(name) }
	// Created with its MAC and MTU: the address is left to give, then up.
	var peer netlink.Link = &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: index, Name: ep.IfName}}
	if index == 0 {
		if peer, err = sbh.LinkByName(ep.IfName); err != nil {
			undo()
			return fmt.Errorf("sandbox %s: %s: %w", sb.Key, ep.IfName, err)
		}
	}
	if err := netimpl.SetupLink(sbh, peer, ep); err != nil {
		undo()
		return fmt.Errorf("sandbox %s: %w", sb.Key, err)
	}
	ep.IfIndex = peer.Attrs().Index
	nw.veths[ep.ID] = name
	return nil
}

// addVeth creates the pair with a fresh host-side name, retrying the rare
// clash of two random names, and returns that name and the peer's index
// (0 if unknown). The bridge's index is remembered from its creation and
// looked up again if the kernel no longer knows it (someone replaced the
// bridge by hand).
func (d *Driver) addVeth(nw *network, ep *netimpl.Endpoint, nsfd int) (string, int, error) {
	relooked := false
	for try := 0; ; try++ {
		p := vethPair{name: netimpl.TempLinkName(), master: nw.index, peer: ep.IfName, peerMAC: ep.MAC, peerNSFD: nsfd, mtu: nw.opts.mtu}
		index, err := d.veths.add(p)
		if err == nil {
			return p.name, index, nil
		}
		if errors.Is(err, unix.EEXIST) && try < 3 {
			continue
		}
		if !relooked && (errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)) {
			relooked = true
			if br, lerr := d.host.LinkByName(nw.bridge); lerr == nil && br.Attrs().Index != nw.index {
				nw.index = br.Attrs().Index
				continue
			}
		}
		return "", 0, fmt.Errorf("veth %s to %s: %w", p.name, ep.IfName, err)
	}
}

// Leave deletes the endpoint's veth pair (its sandbox side goes with it),
// before anything else is released. A pair already gone is not an error.
func (d *Driver) Leave(n *netimpl.Network, ep *netimpl.Endpoint, sb *netimpl.Sandbox) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	nw, ok := d.networks[n.ID]
	if !ok {
		return nil
	}
	name, ok := nw.veths[ep.ID]
	if !ok {
		return nil
	}
	if err := d.deleteLink(name); err != nil {
		return fmt.Errorf("delete veth %s: %w", name, err)
	}
	delete(nw.veths, ep.ID)
	return nil
}
