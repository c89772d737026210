package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// fabric is the lab's switch room: a namespace holding one bridge per
// segment, into which every host interface is a veth leg.
type fabric struct {
	pin     string
	bridges map[string]int // segment name -> bridge ifindex
}

// Sysctls every lab namespace gets before its first link. IPv6 is off
// because the lab's underlay is IPv4: with it on, each new link would send
// DAD probes and router solicitations onto the segments, noise on every
// capture. Links take "default" when they are made; "all" would also
// reconfigure lo, which never reaches a wire, and costs ten times as much.
var noIPv6 = map[string]string{
	"net/ipv6/conf/default/disable_ipv6": "1",
}

// The fabric is a plain L2 switch: frames crossing its bridges must not be
// handed to the fabric namespace's netfilter (br_netfilter is loaded on
// the machine and its switches are per namespace).
var fabricOnly = map[string]string{
	"net/bridge/bridge-nf-call-iptables":  "0",
	"net/bridge/bridge-nf-call-ip6tables": "0",
	"net/bridge/bridge-nf-call-arptables": "0",
}

func newFabric(ctx context.Context, id string, segments []Segment) (*fabric, error) {
	pin, err := netns.NewNamed(id + "-" + fabricPinName)
	if err != nil {
		return nil, fmt.Errorf("fabric: %w", err)
	}
	f := &fabric{pin: pin, bridges: map[string]int{}}
	h, err := enter(pin, noIPv6, fabricOnly)
	if err != nil {
		return nil, fmt.Errorf("fabric: %w", err)
	}
	defer h.Close()
	for _, s := range segments {
		// A bridge made over netlink has STP off, so ports forward at once.
		br := &netlink.Bridge{LinkAttrs: netlink.NewLinkAttrs()}
		br.Name = s.Name
		br.Flags = net.FlagUp
		if err := netns.RetryTransient(ctx, func() error { return h.LinkAdd(br) }); err != nil {
			return nil, fmt.Errorf("fabric: segment %s: create bridge: %w", s.Name, err)
		}
		if br.Index == 0 {
			return nil, fmt.Errorf("fabric: segment %s: bridge has no index after creation", s.Name)
		}
		f.bridges[s.Name] = br.Index
	}
	return f, nil
}

// enter sets sysctls inside the namespace at pin and returns a netlink
// handle bound to it: one trip into the namespace for both.
func enter(pin string, sysctls ...map[string]string) (*netlink.Handle, error) {
	var h *netlink.Handle
	err := netns.Do(pin, func() error {
		for _, m := range sysctls {
			for k, v := range m {
				if err := writeSysctl(k, v); err != nil {
					return err
				}
			}
		}
		var err error
		// The socket belongs to the namespace it is opened in, whatever
		// thread uses it afterwards.
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("netlink handle: %w", err)
		}
		return nil
	})
	return h, err
}

// writeSysctl writes /proc/sys/KEY, which shows the calling thread's
// network namespace. A bridge switch that does not exist (br_netfilter not
// loaded) is already as wanted.
func writeSysctl(key, value string) error {
	path := "/proc/sys/" + key
	err := os.WriteFile(path, []byte(value), 0)
	if errors.Is(err, os.ErrNotExist) && strings.HasPrefix(key, "net/bridge/") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// legName names a host interface's fabric end: h<host index>i<interface
// index>, at most 15 bytes for any lab of up to 10^6 hosts.
func legName(host, iface int) string { return fmt.Sprintf("h%di%d", host, iface) }

// buildHost makes the host's namespace, its interfaces as veth legs from
// the fabric (fh is a handle bound to the fabric namespace), their
// addresses, the routes and the forwarding switch. Nothing passes through
// the root namespace: each veth is created in the fabric with its peer
// placed straight into the host.
func buildHost(ctx context.Context, fh *netlink.Handle, f *fabric, id string, index int, spec *HostSpec) error {
	pin, err := netns.NewNamed(id + "-" + spec.Name)
	if err != nil {
		return fmt.Errorf("host %s: %w", spec.Name, err)
	}
	sysctls := []map[string]string{noIPv6}
	if spec.Forwarding {
		sysctls = append(sysctls, map[string]string{"net/ipv4/ip_forward": "1"})
	}
	hh, err := enter(pin, sysctls...)
	if err != nil {
		return fmt.Errorf("host %s: %w", spec.Name, err)
	}
	defer hh.Close()
	if len(spec.Interfaces) == 0 {
		return nil
	}
	nsfd, err := unix.Open(pin, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("host %s: open %s: %w", spec.Name, pin, err)
	}
	defer unix.Close(nsfd)
	links := map[string]netlink.Link{}
	for j, i := range spec.Interfaces {
		l, err := addLeg(ctx, fh, hh, nsfd, f.bridges[i.Segment], legName(index, j), i)
		if err != nil {
			return fmt.Errorf("host %s: interface %s: %w", spec.Name, i.Name, err)
		}
		links[i.Name] = l
	}
	for _, r := range spec.Routes {
		if err := addRoute(hh, spec, links, r); err != nil {
			return fmt.Errorf("host %s: route to %s: %w", spec.Name, r.To, err)
		}
	}
	return nil
}

// addLeg creates one veth: the fabric end enslaved to the segment bridge
// and up, the host end named as the interface, with its MAC and address,
// and up. It returns the host end.
func addLeg(ctx context.Context, fh, hh *netlink.Handle, nsfd, bridge int, leg string, i InterfaceSpec) (netlink.Link, error) {
	v := &netlink.Veth{LinkAttrs: netlink.NewLinkAttrs(), PeerName: i.Name, PeerNamespace: netlink.NsFd(nsfd)}
	v.Name = leg
	v.Flags = net.FlagUp
	v.MasterIndex = bridge
	if i.MAC != "" {
		mac, err := net.ParseMAC(i.MAC)
		if err != nil {
			return nil, fmt.Errorf("mac %q: %w", i.MAC, err)
		}
		v.PeerHardwareAddr = mac
	}
	if err := netns.RetryTransient(ctx, func() error { return fh.LinkAdd(v) }); err != nil {
		return nil, fmt.Errorf("create veth %s/%s: %w", leg, i.Name, err)
	}
	// The host end was created in the host namespace: look it up there
	// for its index.
	var l netlink.Link
	err := netns.RetryTransient(ctx, func() (err error) {
		l, err = hh.LinkByName(i.Name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("find %s in host: %w", i.Name, err)
	}
	if i.Address.IsValid() {
		a := &netlink.Addr{IPNet: &net.IPNet{
			IP:   i.Address.Addr().AsSlice(),
			Mask: net.CIDRMask(i.Address.Bits(), 32),
		}}
		if err := hh.AddrAdd(l, a); err != nil {
			return nil, fmt.Errorf("address %s: %w", i.Address, err)
		}
	}
	if err := hh.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("set up: %w", err)
	}
	return l, nil
}

func addRoute(hh *netlink.Handle, spec *HostSpec, links map[string]netlink.Link, r RouteSpec) error {
	route := &netlink.Route{
		Dst: &net.IPNet{IP: r.To.Addr().AsSlice(), Mask: net.CIDRMask(r.To.Bits(), 32)},
		Gw:  r.Via.AsSlice(),
	}
	// The interface whose prefix holds the gateway carries the route.
	for _, i := range spec.Interfaces {
		if i.Address.IsValid() && i.Address.Masked().Contains(r.Via) {
			route.LinkIndex = links[i.Name].Attrs().Index
			break
		}
	}
	return hh.RouteAdd(route)
}
