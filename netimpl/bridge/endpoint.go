package bridge

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netns"
)

// Join makes the endpoint's veth pair as Docker's reads: the host side,
// named like Docker's ("veth" and 7 hex), up and a port of the network's
// bridge; the container's end ep.IfName in the sandbox with ep.MAC, the
// two with neighbouring indexes of the host's numbering (see
// netimpl.LinkSocket). The container's end then gets ep.Addr and comes up.
// Both sides get the network's MTU. The default route is the engine's. On
// error the pair is deleted again.
func (d *Driver) Join(n *netimpl.Network, ep *netimpl.Endpoint, sb *netimpl.Sandbox) error {
	return netimpl.Join(&d.mu, d.networks, n, ep, sb, Name, (*network).joined, d.join)
}

func (d *Driver) join(nw *network, ep *netimpl.Endpoint, sb *netimpl.Sandbox, sbh *netlink.Handle, nsfd int) (string, error) {
	made, err := d.addVeth(nw, ep, nsfd)
	if err != nil {
		return "", err
	}
	peer, err := netimpl.SetupPeer(sbh, made, ep, sb)
	if err == nil {
		// The host side is a bridge port, enabled only once the kernel
		// acted on its carrier.
		err = netns.SyncLink(d.host, &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: made.Name}})
	}
	if err != nil {
		netns.DeleteLink(d.host, made.Name)
		return "", err
	}
	ep.IfIndex, ep.SrcName = peer.Attrs().Index, made.SrcName
	return made.Name, nil
}

// addVeth makes the pair, its host side a port of the bridge. The
// bridge's index is remembered from its creation and looked up again if
// the kernel no longer knows it (someone replaced the bridge by hand).
func (d *Driver) addVeth(nw *network, ep *netimpl.Endpoint, nsfd int) (netimpl.MadeVeth, error) {
	for relooked := false; ; relooked = true {
		made, err := d.links.MakeEndpointVeth(netimpl.EndpointVeth{Name: netimpl.TempLinkName, Master: nw.index, MTU: nw.opts.mtu,
			SandboxFD: nsfd, IfName: ep.IfName, MAC: ep.MAC})
		if err == nil {
			return made, nil
		}
		if !relooked && (errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)) {
			if br, lerr := d.host.LinkByName(nw.bridge); lerr == nil && br.Attrs().Index != nw.index {
				nw.index = br.Attrs().Index
				continue
			}
		}
		return netimpl.MadeVeth{}, fmt.Errorf("veth to %s: %w", ep.IfName, err)
	}
}

// Leave deletes the endpoint's veth pair (its sandbox side goes with it),
// before anything else is released. A pair already gone is not an error.
func (d *Driver) Leave(n *netimpl.Network, ep *netimpl.Endpoint, sb *netimpl.Sandbox) error {
	return netimpl.Leave(&d.mu, d.networks, n, ep, sb, (*network).joined, d.leave)
}

func (d *Driver) leave(_ *network, _ *netimpl.Endpoint, _ *netimpl.Sandbox, veth string) error {
	return netns.DeleteLink(d.host, veth)
}
