package overlay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// Names of the devices inside a network's namespace, as libnetwork's osl
// names them (prefix and a per-namespace counter from 0).
const (
	BridgeName = "br0"
	VXLANName  = "vxlan0"
	vethPrefix = "veth"
)

// sandbox is a network's namespace and what the driver made in it.
type sandbox struct {
	path   string          // the pin the driver works through (Driver.Namespace)
	pin    string          // the /run/netns pin, in Config.Pins' mount namespace
	h      *netlink.Handle // route netlink inside the namespace
	bridge int             // br0's index
	vxlan  int             // vxlan0's index
	// nextVeth numbers the veths; like osl's nextIfIndex it only grows.
	nextVeth int
}

// ensureSandbox makes the network's namespace with br0 and vxlan0 when it
// does not exist yet, and programs every known peer in it. On error nothing
// of it is left.
func (d *Driver) ensureSandbox(nw *network) (created bool, err error) {
	if nw.sb != nil {
		return false, nil
	}
	if nw.vni == 0 {
		return false, fmt.Errorf("overlay network %s: no VXLAN id yet", nw.name)
	}
	key := d.sandboxKey(nw.id)
	if err := d.removeStale(nw.nsName, key); err != nil {
		return false, err
	}
	sb, err := d.newSandbox(nw.nsName, key)
	if err != nil {
		return false, fmt.Errorf("namespace %s: %w", nw.nsName, err)
	}
	nw.sb = sb
	if err := d.buildSandbox(nw); err != nil {
		return false, errors.Join(fmt.Errorf("namespace %s: %w", nw.nsName, err), d.destroySandbox(nw))
	}
	for _, p := range nw.peers {
		if err := d.programPeer(nw, p); err != nil {
			return false, errors.Join(fmt.Errorf("namespace %s: %w", nw.nsName, err), d.destroySandbox(nw))
		}
	}
	return true, nil
}

// newSandbox makes a namespace and pins it as name in /run/netns and, when
// given, at key.
func (d *Driver) newSandbox(name, key string) (*sandbox, error) {
	f, err := netns.NewFresh(netns.DisableIPv6)
	if err != nil {
		return nil, err
	}
	defer unix.Close(f.FD)
	sb := &sandbox{h: f.Handle}
	if sb.pin, err = d.cfg.Pins.PinFD(f.FD, name); err != nil {
		f.Handle.Close()
		return nil, err
	}
	sb.path = sb.pin
	if key != "" {
		if err := netns.PinFDAt(f.FD, key); err != nil {
			f.Handle.Close()
			return nil, errors.Join(err, d.cfg.Pins.Delete(sb.pin))
		}
		sb.path = key
	}
	return sb, nil
}

// buildSandbox makes br0 with the gateway address and vxlan0, in the
// order osl does: the bridge, then the VXLAN device as its port, then up.
func (d *Driver) buildSandbox(nw *network) error {
	sb := nw.sb
	la := netlink.NewLinkAttrs()
	la.Name = BridgeName
	// No transmit queue, as Docker's br0 and vxlan0 have (TxQLen 0).
	la.TxQLen = 0
	br := &netlink.Bridge{LinkAttrs: la}
	if err := sb.h.LinkAdd(br); err != nil {
		return fmt.Errorf("create %s: %w", BridgeName, err)
	}
	sb.bridge = br.Attrs().Index
	if err := sb.h.AddrAdd(br, &netlink.Addr{IPNet: ipNet(nw.gateway)}); err != nil {
		return fmt.Errorf("%s: add %s: %w", BridgeName, nw.gateway, err)
	}
	if err := sb.h.LinkSetUp(br); err != nil {
		return fmt.Errorf("%s up: %w", BridgeName, err)
	}
	vx, err := d.addVXLAN(nw)
	if err != nil {
		return err
	}
	sb.vxlan = vx.Attrs().Index
	if err := sb.h.LinkSetMasterByIndex(vx, sb.bridge); err != nil {
		return fmt.Errorf("%s into %s: %w", VXLANName, BridgeName, err)
	}
	if err := sb.h.LinkSetUp(vx); err != nil {
		return fmt.Errorf("%s up: %w", VXLANName, err)
	}
	return nil
}

// addVXLAN creates vxlan0 with Docker's settings. The request goes through
// the host's netlink socket with the network's namespace as the device's
// home: the kernel then opens the device's UDP socket in the host's
// namespace, where the underlay is, just as Docker's create-then-move does.
func (d *Driver) addVXLAN(nw *network) (netlink.Link, error) {
	fd, err := unix.Open(nw.sb.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	la := netlink.NewLinkAttrs()
	la.Name = VXLANName
	la.MTU = nw.mtu
	la.TxQLen = 0
	la.Namespace = netlink.NsFd(fd)
	vx := &netlink.Vxlan{
		LinkAttrs: la,
		VxlanId:   int(nw.vni),
		Port:      VXLANPort,
		Learning:  d.cfg.Learning,
		// Proxy answers ARP from the neighbour entries on the device;
		// L2miss and L3miss report what is missing, as Docker sets them.
		Proxy:  true,
		L2miss: true,
		L3miss: true,
	}
	if err := d.host.LinkAdd(vx); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("create %s (VXLAN id %d): another device of this host has the id or the name: %w", VXLANName, nw.vni, err)
		}
		return nil, fmt.Errorf("create %s (VXLAN id %d): %w", VXLANName, nw.vni, err)
	}
	// Looked up in its namespace: the host handle saw no index for it.
	l, err := nw.sb.h.LinkByName(VXLANName)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", VXLANName, err)
	}
	return l, nil
}

// destroySandbox deletes the namespace's devices and then unpins it. The
// devices go first and explicitly: a namespace is torn down by the kernel
// in the background, and until then its VXLAN device would still hold the
// VNI on the host's port, so that the next create would fail.
func (d *Driver) destroySandbox(nw *network) error {
	sb := nw.sb
	if sb == nil {
		return nil
	}
	var errs []error
	links, err := netns.LinkList(sb.h)
	if err != nil {
		errs = append(errs, err)
	}
	// The VXLAN device first: it is what holds state outside the namespace.
	for _, want := range []string{"vxlan", "veth", "bridge"} {
		for _, l := range links {
			if l.Type() == want {
				if err := sb.h.LinkDel(l); err != nil && !isGone(err) {
					errs = append(errs, fmt.Errorf("delete %s: %w", l.Attrs().Name, err))
				}
			}
		}
	}
	sb.h.Close()
	if err := d.cfg.Pins.Delete(sb.pin); err != nil {
		errs = append(errs, err)
	}
	if sb.path != sb.pin {
		if err := netns.Delete(sb.path); err != nil {
			errs = append(errs, err)
		}
	}
	nw.sb = nil
	clear(nw.endpoints)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("namespace %s: %w", nw.nsName, err)
	}
	return nil
}

// removeStale removes a namespace of the network's name, or at its key,
// that an earlier life of the daemon left pinned (it was killed), devices
// first, as Docker's cleanupStaleSandboxes does: its VXLAN device would
// otherwise keep the VNI taken on the host's port.
func (d *Driver) removeStale(name, key string) error {
	f, err := d.cfg.Pins.Open(name)
	if err == nil {
		err = emptyStale(f)
		f.Close()
		if err := errors.Join(err, d.cfg.Pins.Delete(name)); err != nil {
			return fmt.Errorf("stale namespace %s: %w", name, err)
		}
	}
	if key == "" {
		return nil
	}
	if f, err = os.Open(key); err == nil {
		err = emptyStale(f)
		f.Close()
		if err := errors.Join(err, netns.Delete(key)); err != nil {
			return fmt.Errorf("stale namespace %s: %w", key, err)
		}
	}
	return nil
}

// emptyStale deletes every device but lo of the namespace f refers to; a
// pin file without a namespace mounted on it has none.
func emptyStale(f *os.File) error {
	h, err := netns.Handle(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		return nil
	}
	defer h.Close()
	links, err := netns.LinkList(h)
	if err != nil {
		return err
	}
	for _, l := range links {
		if l.Type() == "device" && l.Attrs().Name == "lo" {
			continue
		}
		if err := h.LinkDel(l); err != nil && !isGone(err) {
			return fmt.Errorf("delete %s: %w", l.Attrs().Name, err)
		}
	}
	return nil
}

// isGone reports the errors of deleting what does not exist.
func isGone(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
