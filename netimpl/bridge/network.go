package bridge

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/firewall"
	"github.com/nslab/nslab/netns"
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
	br, err := d.addBridge(attrs, !n.Predefined)
	if err != nil {
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
// gateway address on it). What is already gone is not an error; after a
// failure the driver keeps the network (netimpl.DeleteRecord).
func (d *Driver) DeleteNetwork(n *netimpl.Network) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return netimpl.DeleteRecord(d.networks, n, d.deleteNetwork)
}

func (d *Driver) deleteNetwork(nw *network) error {
	var errs []error
	if d.firewall != nil {
		if err := d.firewall.RemoveNetwork(nw.rules()); err != nil {
			errs = append(errs, fmt.Errorf("bridge %s: firewall: %w", nw.bridge, err))
		}
	}
	if err := netns.DeleteLink(d.host, nw.bridge); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// addBridge makes the bridge. A user network's takes its interface index
// from the counter of the driver's veth pairs (netimpl.LinkSocket), as the
// kernel would in a namespace where no link went: so a daemon put back to
// how it started (Rewind) gives the next network's bridge, and the pairs
// after it, the numbers it gave them first. The default bridge, made at
// the daemon's start, takes the kernel's.
func (d *Driver) addBridge(attrs netlink.LinkAttrs, counted bool) (*netlink.Bridge, error) {
	if counted {
		br := &netlink.Bridge{LinkAttrs: attrs}
		br.Index = d.links.TakeIndex()
		err := d.host.LinkAdd(br)
		if err == nil {
			return br, nil
		}
		if !errors.Is(err, unix.EBUSY) {
			return nil, err
		}
		// The index is taken: someone else made links here.
	}
	br := &netlink.Bridge{LinkAttrs: attrs}
	if err := d.host.LinkAdd(br); err != nil {
		return nil, err
	}
	if counted {
		d.links.Taken(br.Attrs().Index)
	}
	return br, nil
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

// Unplug takes down at once what removing the networks gone names, and
// every endpoint on any of the driver's networks, would take down one by
// one: those networks' firewall rules (their ports' and links' with them,
// a batch each), and meanwhile, in one request to the kernel, their bridges and
// every veth on the driver's bridges, the endpoints', whose other ends go
// with them. The networks and endpoints stay in the driver's books; their
// removal then finds their rules and links gone. The driver is not locked
// meanwhile: the kernel's wait for the links does not hold up removals.
func (d *Driver) Unplug(gone func(networkID string) bool) error {
	links, err := netns.LinkList(d.host)
	if err != nil {
		return fmt.Errorf("bridge: unplug: %w", err)
	}
	d.mu.Lock()
	bridges := map[int]bool{}
	var (
		doomed []int
		rules  []firewall.Network
	)
	for id, nw := range d.networks {
		bridges[nw.index] = true
		if gone(id) {
			doomed = append(doomed, nw.index)
			rules = append(rules, nw.rules())
		}
	}
	d.mu.Unlock()
	for _, l := range links {
		// Veths only: a tunnel joined to a bridge is its owner's to close.
		if a := l.Attrs(); a.MasterIndex != 0 && bridges[a.MasterIndex] && l.Type() == "veth" {
			doomed = append(doomed, a.Index)
		}
	}
	// The rules name the bridges, they do not need them: both go at once.
	errs := make([]error, len(rules)+1)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = d.links.DeleteLinks(doomed) })
	if d.firewall != nil {
		for i, r := range rules {
			errs[i+1] = d.firewall.RemoveNetwork(r)
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bridge: unplug: %w", err)
	}
	return nil
}
