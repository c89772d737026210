package macvlan

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netns"
)

// Join makes the endpoint's macvlan link as libnetwork and its sandbox
// code do: created on the parent in the host's namespace under a temporary
// name, moved into the sandbox, renamed there to ep.IfName, given ep.MAC
// and ep.Addr and brought up. The default route is the engine's. On error
// the link is deleted again, wherever it is by then.
func (d *Driver) Join(n *netimpl.Network, ep *netimpl.Endpoint, sb *netimpl.Sandbox) error {
	return netimpl.Join(&d.mu, d.networks, n, ep, sb, Name, (*network).joined, d.join)
}

func (d *Driver) join(nw *network, ep *netimpl.Endpoint, sb *netimpl.Sandbox, sbh *netlink.Handle, nsfd int) (string, error) {
	parent, err := d.host.LinkByName(nw.opts.parent)
	if err != nil {
		return "", netimpl.Errorf(netimpl.KindUnknown, "the requested parent interface %s was not found on the Docker host", nw.opts.parent)
	}
	tmp, err := d.addLink(parent.Attrs().Index, nw.opts.mode)
	if err != nil {
		return "", err
	}
	if err := d.host.LinkSetNsFd(tmp, nsfd); err != nil {
		d.host.LinkDel(tmp)
		return "", fmt.Errorf("move %s into sandbox %s: %w", tmp.Name, sb.Key, err)
	}
	// Moved: its index may have changed, so look it up again there.
	l, err := sbh.LinkByName(tmp.Name)
	if err != nil {
		return "", fmt.Errorf("sandbox %s: %s after the move: %w", sb.Key, tmp.Name, err)
	}
	if err := netimpl.SetupMovedLink(sbh, l, ep); err != nil {
		sbh.LinkDel(l)
		return "", fmt.Errorf("sandbox %s: %w", sb.Key, err)
	}
	ep.IfIndex, ep.SrcName = l.Attrs().Index, tmp.Name
	return ep.IfName, nil
}

// addLink creates a macvlan link on the parent under a fresh temporary
// name, retrying the rare clash of two random names.
func (d *Driver) addLink(parentIndex int, mode netlink.MacvlanMode) (*netlink.Macvlan, error) {
	for try := 0; ; try++ {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = netimpl.TempLinkName()
		attrs.ParentIndex = parentIndex
		l := &netlink.Macvlan{LinkAttrs: attrs, Mode: mode}
		err := d.host.LinkAdd(l)
		if err == nil {
			return l, nil
		}
		if errors.Is(err, unix.EEXIST) && try < 3 {
			continue
		}
		// A passthru parent takes one macvlan only; libnetwork's text.
		return nil, netimpl.Errorf(netimpl.KindUnknown, "failed to create the macvlan port: %v", err)
	}
}

// Leave deletes the endpoint's macvlan link in the sandbox, before its
// address is released. A link already gone is not an error.
func (d *Driver) Leave(n *netimpl.Network, ep *netimpl.Endpoint, sb *netimpl.Sandbox) error {
	return netimpl.Leave(&d.mu, d.networks, n, ep, sb, (*network).joined, leave)
}

func leave(_ *network, _ *netimpl.Endpoint, sb *netimpl.Sandbox, name string) error {
	sbh, err := sb.Netlink()
	if err != nil {
		return err
	}
	if err := netns.DeleteLink(sbh, name); err != nil {
		return fmt.Errorf("sandbox %s: %w", sb.Key, err)
	}
	return nil
}
