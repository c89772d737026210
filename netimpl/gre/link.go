package gre

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// openHandle returns a route netlink handle bound to the calling thread's
// network namespace (its socket belongs to the namespace it is opened in), so
// the tunnel can remove its link later from any goroutine.
func openHandle() (*netlink.Handle, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	return h, nil
}

// fallbackTunnels are the devices the kernel's ip_gre module creates in
// every network namespace (net.core.fb_tunnels_only_for_init_net = 0), by
// name and link type; they cannot be deleted, so their names are taken.
var fallbackTunnels = map[string]string{"gre0": "gre", "gretap0": "gretap", "erspan0": "erspan"}

// checkFree fails when a link called name exists: TUNSETIFF would attach to
// a persistent TAP of that name instead of failing.
func checkFree(h *netlink.Handle, name string) error {
	l, err := netns.FindLink(h, name)
	if err != nil || l == nil {
		return err
	}
	if fallbackTunnels[name] == l.Type() {
		return fmt.Errorf("link %s exists: the kernel's fallback %s device, which ip_gre puts in every namespace; choose another name: %w",
			name, l.Type(), unix.EEXIST)
	}
	return fmt.Errorf("link %s exists: %w", name, unix.EEXIST)
}

// checkBridge fails unless name is a Linux bridge of the namespace.
func checkBridge(h *netlink.Handle, name string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	if l.Type() != "bridge" {
		return fmt.Errorf("bridge %s: link is a %s, not a bridge", name, l.Type())
	}
	return nil
}

// pathMTU is the MTU towards remote: the route's MTU metric if it has one,
// else its device's MTU, as ip_tunnel_bind_dev finds it.
func pathMTU(h *netlink.Handle, remote netip.Addr) (int, error) {
	routes, err := h.RouteGet(net.IP(remote.AsSlice()))
	if err != nil {
		return 0, fmt.Errorf("route to %s: %w", remote, err)
	}
	if len(routes) == 0 {
		return 0, fmt.Errorf("route to %s: none", remote)
	}
	if routes[0].MTU > 0 {
		return routes[0].MTU, nil
	}
	l, err := h.LinkByIndex(routes[0].LinkIndex)
	if err != nil {
		return 0, fmt.Errorf("route to %s: device %d: %w", remote, routes[0].LinkIndex, err)
	}
	return l.Attrs().MTU, nil
}

// innerMTU is cfg.MTU, or the kernel's choice when it is 0.
func innerMTU(h *netlink.Handle, cfg *Config) (int, error) {
	if cfg.MTU != 0 {
		return cfg.MTU, nil
	}
	under, err := pathMTU(h, cfg.Remote)
	if err != nil {
		return 0, err
	}
	mtu := under - Overhead(cfg.Key != nil, cfg.Checksum)
	if mtu < minMTU {
		return 0, fmt.Errorf("underlay mtu %d leaves %d for the tunnel, below %d", under, mtu, minMTU)
	}
	return mtu, nil
}

// attach enslaves the link to bridge (if set) and brings it up.
func attach(h *netlink.Handle, name, bridge string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if bridge != "" {
		br, err := h.LinkByName(bridge)
		if err != nil {
			return fmt.Errorf("bridge %s: %w", bridge, err)
		}
		if err := h.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("enslave %s to %s: %w", name, bridge, err)
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}
