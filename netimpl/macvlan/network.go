package macvlan

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netns"
)

// CreateNetwork checks the network's options, then makes sure its parent
// exists: an existing link is used as it is; a missing "<link>.<id>" is
// created as an 802.1Q sub-interface and a missing dummy parent as a dummy
// link, both up and removed again with the network. Anything else missing
// is libnetwork's error. On error nothing is left.
func (d *Driver) CreateNetwork(n *netimpl.Network) error {
	if len(n.Pools) == 0 {
		return netimpl.Errorf(netimpl.KindUnknown, "ipv4 pool is empty")
	}
	o, err := parseOptions(n)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, dup := d.networks[n.ID]; dup {
		return netimpl.Errorf(netimpl.KindConflict, "macvlan network %s exists already", n.ID)
	}
	for id, other := range d.networks {
		if other.opts.parent == o.parent {
			// libnetwork names the other network by its dummy name.
			return netimpl.Errorf(netimpl.KindUnknown, "network %s is already using parent interface %s", dummyName(id), o.parent)
		}
	}
	nw := &network{name: n.Name, opts: o, links: map[string]string{}}
	parent, err := netns.FindLink(d.host, o.parent)
	if err != nil {
		return fmt.Errorf("macvlan network %s: %w", n.Name, err)
	}
	if parent == nil {
		if o.internal {
			err = d.addDummy(o.parent)
		} else {
			err = d.addVLAN(o.parent)
		}
		if err != nil {
			return err
		}
		nw.createdParent = true
	}
	d.networks[n.ID] = nw
	return nil
}

// DeleteNetwork removes the parent the driver made for the network (its
// remaining macvlan links go with it); a parent of the user's stays. What
// is already gone is not an error; after a failure the driver keeps the
// network (netimpl.DeleteRecord).
func (d *Driver) DeleteNetwork(n *netimpl.Network) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return netimpl.DeleteRecord(d.networks, n, func(nw *network) error {
		if !nw.createdParent {
			return nil
		}
		if err := d.deleteParent(nw.opts.parent); err != nil {
			return fmt.Errorf("macvlan network %s: %w", n.Name, err)
		}
		return nil
	})
}

// addVLAN creates the 802.1Q sub-interface parent ("eth1.10": VLAN 10 on
// eth1) and brings it up, with libnetwork's checks and messages.
func (d *Driver) addVLAN(parent string) error {
	if !strings.Contains(parent, ".") {
		return netimpl.Errorf(netimpl.KindUnknown, "invalid subinterface vlan name %s, example formatting is eth0.10", parent)
	}
	lowerName, id, err := parseVLAN(parent)
	if err != nil {
		return err
	}
	lower, err := d.host.LinkByName(lowerName)
	if err != nil {
		return netimpl.Errorf(netimpl.KindUnknown, "-o parent interface does was not found on the host: %s", lowerName)
	}
	if err := checkVLANID(id); err != nil {
		return err
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = parent
	attrs.ParentIndex = lower.Attrs().Index
	return d.addParent(&netlink.Vlan{LinkAttrs: attrs, VlanId: id}, parent+" vlan link",
		"this kernel has no 802.1Q VLAN support (module 8021q)")
}

// addDummy creates the dummy parent of a network without one, up.
func (d *Driver) addDummy(parent string) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = parent
	return d.addParent(&netlink.Dummy{LinkAttrs: attrs}, "the dummy parent "+parent,
		"this kernel has no dummy link support (module dummy), which an internal macvlan network or one without -o parent needs")
}

// addParent creates the parent l and brings it up, with libnetwork's texts
// for what fails: what names the link made ("eth1.10 vlan link"), and
// unsupported says which kernel support a refusal of its kind
// (EOPNOTSUPP) shows missing.
func (d *Driver) addParent(l netlink.Link, what, unsupported string) error {
	if err := d.host.LinkAdd(l); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			err = fmt.Errorf("%w: %s", err, unsupported)
		}
		return netimpl.Errorf(netimpl.KindUnknown, "failed to create %s: %v", what, err)
	}
	if err := d.host.LinkSetUp(l); err != nil {
		d.host.LinkDel(l)
		return netimpl.Errorf(netimpl.KindUnknown, "failed to enable %s the macvlan parent link %v", l.Attrs().Name, err)
	}
	return nil
}

// deleteParent removes a parent the driver made, if it is still there and
// still a VLAN or dummy link: a link of the same name that is neither was
// not made here and stays, as libnetwork's delVlanLink leaves it.
func (d *Driver) deleteParent(name string) error {
	l, err := netns.FindLink(d.host, name)
	if err != nil || l == nil {
		return err
	}
	if t := l.Type(); t != "vlan" && t != "dummy" {
		return nil
	}
	if err := d.host.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete parent %s: %w", name, err)
	}
	return nil
}
