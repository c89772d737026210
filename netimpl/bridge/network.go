package bridge

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netimpl"
)

// CreateNetwork checks the network's options and pool, then makes its
// Linux bridge (up, with a 02:42 MAC like Docker's) holding the gateway
// address, then hands the network to the firewall. On error nothing of it
// is left.
func (d *Driver) CreateNetwork(n *netimpl.Network) error {
	o, err := parseOptions(n)
	if err != nil {
		return err
	}
	switch {
	case len(n.Pools) > 1:
		return netimpl.Errorf(netimpl.KindForbidden, "bridge driver doesn't support multiple subnets")
	case len(n.Pools) == 0:
		return netimpl.Errorf(netimpl.KindUnknown, "bridge network %s: no IPv4 pool", n.Name)
	}
	pool := n.Pools[0]
	nw := &network{
		name:    n.Name,
		bridge:  o.bridge,
		opts:    o,
		gateway: netip.PrefixFrom(pool.Gateway, pool.Subnet.Bits()),
		subnet:  pool.Subnet,
		veths:   map[string]string{},
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, dup := d.networks[n.ID]; dup {
		return netimpl.Errorf(netimpl.KindConflict, "bridge network %s exists already", n.ID)
	}
	for _, other := range d.networks {
		if other.bridge == nw.bridge {
			return netimpl.Errorf(netimpl.KindForbidden, "bridge name %s is used by network %s", nw.bridge, other.name)
		}
	}
	if _, err := d.host.LinkByName(nw.bridge); err == nil {
		return netimpl.Errorf(netimpl.KindForbidden, "bridge name %s: the host has a link of that name", nw.bridge)
	}

	attrs := netlink.NewLinkAttrs()
	attrs.Name = nw.bridge
	// Docker asks for no transmit queue (libnetwork's LinkAttrs leave
	// TxQLen 0): `ip link` shows its bridges without a qlen.
	attrs.TxQLen = 0
	attrs.HardwareAddr = dockerMAC()
	attrs.Flags = net.FlagUp
	br := &netlink.Bridge{LinkAttrs: attrs}
	if err := d.host.LinkAdd(br); err != nil {
		return fmt.Errorf("create bridge %s: %w", nw.bridge, err)
	}
	undo := func() {
		d.host.LinkDel(br)
	}
	nw.index = br.Attrs().Index
	gw := &netlink.Addr{IPNet: ipNet(nw.gateway)}
	if err := d.host.AddrAdd(br, gw); err != nil {
		undo()
		return fmt.Errorf("bridge %s: add gateway %s: %w", nw.bridge, nw.gateway, err)
	}
	if d.firewall != nil {
		if err := d.firewall.AddNetwork(nw.rules()); err != nil {
			undo()
			return fmt.Errorf("bridge %s: firewall: %w", nw.bridge, err)
		}
	}
	d.networks[n.ID] = nw
	return nil
}

// DeleteNetwork removes the network's rules, then its bridge (with the
// gateway address on it). What is already gone is not an error.
func (d *Driver) DeleteNetwork(n *netimpl.Network) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	nw, ok := d.networks[n.ID]
	if !ok {
		return nil
	}
	var errs []error
	if d.firewall != nil {
		if err := d.firewall.RemoveNetwork(nw.rules()); err != nil {
			errs = append(errs, fmt.Errorf("bridge %s: firewall: %w", nw.bridge, err))
		}
	}
	if err := d.deleteLink(nw.bridge); err != nil {
		errs = append(errs, fmt.Errorf("delete bridge %s: %w", nw.bridge, err))
	}
	delete(d.networks, n.ID)
	return errors.Join(errs...)
}

// deleteLink removes a link of the host's namespace by name; a link that
// is gone already is not an error.
func (d *Driver) deleteLink(name string) error {
	l, err := d.host.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	return d.host.LinkDel(l)
}

// dockerMAC is a random locally administered MAC with Docker's 02:42
// prefix, as dockerd gives its bridges.
func dockerMAC() net.HardwareAddr {
	mac := net.HardwareAddr{0x02, 0x42, 0, 0, 0, 0}
	if _, err := rand.Read(mac[2:]); err != nil {
		panic("bridge: crypto/rand: " + err.Error())
	}
	return mac
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
