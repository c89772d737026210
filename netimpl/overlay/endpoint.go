package overlay

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/undo"
)

// Join makes the network's namespace if this is its first local endpoint,
// then the endpoint's veth pair as libnetwork's overlay driver's reads: one
// end "vethN" in the network's namespace, up and a port of br0, the other
// ep.IfName in the sandbox with ep.MAC, both with the network's MTU and
// with neighbouring indexes of the host's numbering (see
// netimpl.LinkSocket); the sandbox side then gets ep.Addr and comes up. The
// default route is the engine's. On error the pair, and a namespace made
// for it, are removed again.
func (d *Driver) Join(n *netimpl.Network, ep *netimpl.Endpoint, sb *netimpl.Sandbox) error {
	return netimpl.Join(&d.mu, d.networks, n, ep, sb, Name, (*network).joined, d.join)
}

func (d *Driver) join(nw *network, ep *netimpl.Endpoint, sb *netimpl.Sandbox, sbh *netlink.Handle, nsfd int) (string, error) {
	if a, ok := netip.AddrFromSlice(ep.Addr.IP.To4()); !ok || !nw.subnet.Contains(a) {
		return "", fmt.Errorf("endpoint %s: address %s outside subnet %s", ep.Name, ep.Addr, nw.subnet)
	}
	created, err := d.ensureSandbox(nw)
	if err != nil {
		return "", err
	}
	var u undo.Steps
	if created {
		u.Add(func() { d.destroySandbox(nw) })
	}
	made, err := d.addVeth(nw, ep, nsfd)
	if err != nil {
		u.Run()
		return "", err
	}
	u.Add(func() { netns.DeleteLink(nw.sb.h, made.Name) })
	peer, err := netimpl.SetupPeer(sbh, made, ep, sb)
	if err == nil {
		// The first end is br0's port, enabled only once the kernel
		// acted on its carrier.
		err = netns.SyncLink(nw.sb.h, &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: made.Name}})
	}
	if err != nil {
		u.Run()
		return "", err
	}
	ep.IfIndex, ep.SrcName = peer.Attrs().Index, made.SrcName
	return made.Name, nil
}

// addVeth makes the pair: its first end the next free vethN of the
// network's namespace, up and a port of br0; its peer ep.IfName in the
// sandbox at nsfd.
func (d *Driver) addVeth(nw *network, ep *netimpl.Endpoint, nsfd int) (netimpl.MadeVeth, error) {
	ovfd, err := unix.Open(nw.sb.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return netimpl.MadeVeth{}, fmt.Errorf("namespace %s: %w", nw.nsName, err)
	}
	defer unix.Close(ovfd)
	next := func() string {
		// Only a left-over of a failed join can hold a name: the counter
		// never goes back.
		name := fmt.Sprintf("%s%d", vethPrefix, nw.sb.nextVeth)
		nw.sb.nextVeth++
		return name
	}
	made, err := d.links.MakeEndpointVeth(netimpl.EndpointVeth{Name: next, NSFD: ovfd, Master: nw.sb.bridge, MTU: nw.mtu,
		SandboxFD: nsfd, IfName: ep.IfName, MAC: ep.MAC})
	if err != nil {
		return netimpl.MadeVeth{}, fmt.Errorf("%s: veth to %s: %w", nw.nsName, ep.IfName, err)
	}
	return made, nil
}

// Leave deletes the endpoint's veth pair (its sandbox side goes with it);
// after the network's last local endpoint, the namespace goes too, as in
// Docker. What is gone already is not an error.
func (d *Driver) Leave(n *netimpl.Network, ep *netimpl.Endpoint, sb *netimpl.Sandbox) error {
	return netimpl.Leave(&d.mu, d.networks, n, ep, sb, (*network).joined, d.leave)
}

func (d *Driver) leave(nw *network, ep *netimpl.Endpoint, _ *netimpl.Sandbox, veth string) error {
	if nw.sb == nil {
		return nil
	}
	if err := netns.DeleteLink(nw.sb.h, veth); err != nil {
		return fmt.Errorf("%s: %w", nw.nsName, err)
	}
	delete(nw.endpoints, ep.ID)
	if len(nw.endpoints) == 0 {
		return d.destroySandbox(nw)
	}
	return nil
}
