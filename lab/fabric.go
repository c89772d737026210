package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netns"
)

// fabric is the lab's switch room: a namespace holding one bridge per
// segment (a chain of them for a segment larger than a bridge), into which
// every host interface is a veth leg.
type fabric struct {
	pin  string
	legs map[legKey]int // a host interface -> ifindex of the bridge its leg joins
}

// legKey names a host interface by position: host index, interface index.
type legKey struct{ host, iface int }

// bridgePorts is how many ports a Linux bridge takes: port numbers have
// ten bits (BR_MAX_PORTS, 1024) and 0 is reserved. One more fails with
// EXFULL ("exchange full"). A variable, so that a test can chain bridges
// of a few ports.
var bridgePorts = 1023

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

func newFabric(ctx context.Context, id string, t *Topology) (*fabric, error) {
	pin, ns, err := newNamespace(id+"-"+fabricPinName, noIPv6, fabricOnly)
	if err != nil {
		return nil, fmt.Errorf("fabric: %w", err)
	}
	defer ns.Close()
	f := &fabric{pin: pin, legs: map[legKey]int{}}
	for si, s := range t.Segments {
		var legs []legKey
		for hi, h := range t.Hosts {
			for ii, i := range h.Interfaces {
				if i.Segment == s.Name {
					legs = append(legs, legKey{hi, ii})
				}
			}
		}
		bridges, err := newSegment(ctx, ns.Handle, si, s.Name, len(legs))
		if err != nil {
			return nil, fmt.Errorf("fabric: segment %s: %w", s.Name, err)
		}
		for k, leg := range legs {
			f.legs[leg] = bridges[segmentPort(k, len(bridges))]
		}
	}
	return f, nil
}

// newSegment makes the bridges of a segment with n legs and returns their
// ifindexes, the segment's own bridge (named as the segment) first. Up to
// bridgePorts legs share one bridge. A larger segment gets more bridges in
// a star, one L2 domain: each further bridge s<segment>b<k> holds
// bridgePorts-1 legs and an uplink veth (s<segment>u<k> on its side,
// s<segment>d<k> on the first bridge's). A star has no loop, so no
// spanning tree is needed, and a frame crosses at most three bridges.
// Such a segment comes up only on a machine that can broadcast to all of
// it (fitsMachine: net.core.netdev_max_backlog raised above 1,100).
func newSegment(ctx context.Context, h *netlink.Handle, si int, name string, n int) ([]int, error) {
	first, err := newBridge(ctx, h, name)
	if err != nil {
		return nil, err
	}
	bridges := []int{first}
	for k := 1; k < chainLength(n); k++ {
		sub, err := newBridge(ctx, h, fmt.Sprintf("s%db%d", si, k))
		if err != nil {
			return nil, err
		}
		up := &netlink.Veth{LinkAttrs: netlink.NewLinkAttrs(), PeerName: fmt.Sprintf("s%du%d", si, k)}
		up.Name = fmt.Sprintf("s%dd%d", si, k)
		up.Flags = net.FlagUp
		up.MasterIndex = first
		if err := netns.RetryTransient(ctx, func() error { return h.LinkAdd(up) }); err != nil {
			return nil, fmt.Errorf("uplink %s: %w", up.Name, err)
		}
		peer, err := h.LinkByName(up.PeerName)
		if err == nil {
			err = h.LinkSetMasterByIndex(peer, sub)
		}
		if err == nil {
			err = h.LinkSetUp(peer)
		}
		if err != nil {
			return nil, fmt.Errorf("uplink %s: %w", up.PeerName, err)
		}
		bridges = append(bridges, sub)
	}
	return bridges, nil
}

// chainLength is how many bridges a segment of n legs needs: the first
// bridge gives one port to each further bridge's uplink, and each further
// one keeps one for it, so k further bridges hold bridgePorts + k ×
// (bridgePorts-2) legs.
func chainLength(n int) int {
	if n <= bridgePorts {
		return 1
	}
	more := (n - bridgePorts + bridgePorts - 3) / (bridgePorts - 2)
	return 1 + more
}

// fitsMachine refuses a segment on which this machine would drop part of
// every broadcast. A bridge hands a broadcast (every ARP request) to all of
// its ports at once, and each port's veth queues it on the CPU's receive
// backlog, which the kernel drains only afterwards: it holds
// net.core.netdev_max_backlog packets (1000 by default, one setting for
// the whole machine, shared with all its traffic), and what does not fit
// is dropped — with 1,020 hosts on one segment, pings went unanswered
// because their ARP requests were. A segment may use 90% of it; more
// bridges (newSegment) do not help, as their floods land in the same
// backlog. Like the topology's checks, it comes before anything is made.
func fitsMachine(t *Topology) error {
	backlog := netdevBacklog()
	limit := backlog * 9 / 10
	legs := map[string]int{}
	for _, h := range t.Hosts {
		for _, i := range h.Interfaces {
			legs[i.Segment]++
		}
	}
	for _, s := range t.Segments {
		if n := legs[s.Name]; n > limit {
			return fmt.Errorf("segment %s has %d interfaces; this machine delivers a broadcast to at most %d: every ARP request is queued for all of a segment's interfaces at once on one CPU, whose backlog holds net.core.netdev_max_backlog = %d packets, and the kernel drops what does not fit. Split the segment (hosts on several segments joined by a router), or raise net.core.netdev_max_backlog", s.Name, n, limit, backlog)
		}
	}
	return nil
}

// netdevBacklog reads net.core.netdev_max_backlog (the kernel's default,
// 1000, when it cannot).
func netdevBacklog() int {
	b, err := os.ReadFile("/proc/sys/net/core/netdev_max_backlog")
	if err != nil {
		return 1000
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 1000
	}
	return n
}

// maxSegmentLegs is the most legs a segment's star holds: every port of
// the first bridge an uplink.
func maxSegmentLegs() int { return bridgePorts * (bridgePorts - 1) }

// segmentPort says which of a segment's bridges takes its k-th leg: the
// first bridge fills the ports its uplinks leave, then each further one in
// turn.
func segmentPort(k, bridges int) int {
	onFirst := bridgePorts - (bridges - 1)
	if k < onFirst {
		return 0
	}
	return 1 + (k-onFirst)/(bridgePorts-1)
}

func newBridge(ctx context.Context, h *netlink.Handle, name string) (int, error) {
	// A bridge made over netlink has STP off, so ports forward at once.
	br := &netlink.Bridge{LinkAttrs: netlink.NewLinkAttrs()}
	br.Name = name
	br.Flags = net.FlagUp
	if err := netns.RetryTransient(ctx, func() error { return h.LinkAdd(br) }); err != nil {
		return 0, fmt.Errorf("create bridge %s: %w", name, err)
	}
	if br.Index == 0 {
		return 0, fmt.Errorf("bridge %s has no index after creation", name)
	}
	return br.Index, nil
}

// newNamespace makes a namespace on one throwaway thread — its sysctls
// written before its first link, its loopback up, a netlink handle bound
// to it — and pins it at /run/netns/NAME. The caller closes ns (the fd
// and handle); the pin keeps the namespace.
func newNamespace(name string, sysctls ...map[string]string) (string, netns.Fresh, error) {
	ns, err := netns.NewFresh(func() error {
		for _, m := range sysctls {
			for k, v := range m {
				if err := writeSysctl(k, v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return "", ns, fmt.Errorf("%s: %w", name, err)
	}
	pin, err := netns.NewPins(nil).PinFD(ns.FD, name)
	if err != nil {
		ns.Close()
		return "", ns, err
	}
	return pin, ns, nil
}

// writeSysctl writes /proc/sys/KEY in the calling thread's network
// namespace. A bridge switch that does not exist (br_netfilter not
// loaded) is already as wanted.
func writeSysctl(key, value string) error {
	err := netns.WriteSysctl(key, value)
	if errors.Is(err, os.ErrNotExist) && strings.HasPrefix(key, "net/bridge/") {
		return nil
	}
	return err
}

// legName names a host interface's fabric end: h<host index>i<interface
// index>, at most 15 bytes for any lab of up to 10^6 hosts.
func legName(host, iface int) string { return fmt.Sprintf("h%di%d", host, iface) }

// buildHost makes the host's namespace, its interfaces as veth legs from
// the fabric (fc is a route netlink socket in the fabric namespace), their
// addresses, the routes and the forwarding switch. Nothing passes through
// the root namespace: each veth is created in the fabric with its peer
// placed straight into the host.
func buildHost(ctx context.Context, fc *rtnlConn, f *fabric, id string, index int, spec *HostSpec, tm *timings) error {
	t0 := time.Now()
	sysctls := []map[string]string{noIPv6}
	if spec.Forwarding {
		sysctls = append(sysctls, map[string]string{"net/ipv4/ip_forward": "1"})
	}
	_, ns, err := newNamespace(id+"-"+spec.Name, sysctls...)
	if err != nil {
		return fmt.Errorf("host %s: %w", spec.Name, err)
	}
	defer ns.Close()
	tm.since("host: namespace", t0)
	links := map[string]int{}
	for j, i := range spec.Interfaces {
		idx, err := addLeg(ctx, fc, ns, f.legs[legKey{index, j}], legName(index, j), i, tm)
		if err != nil {
			return fmt.Errorf("host %s: interface %s: %w", spec.Name, i.Name, err)
		}
		links[i.Name] = idx
	}
	t0 = time.Now()
	for _, r := range spec.Routes {
		if err := addRoute(ns.Handle, spec, links, r); err != nil {
			return fmt.Errorf("host %s: route to %s: %w", spec.Name, r.To, err)
		}
	}
	tm.since("host: routes", t0)
	return nil
}

// addLeg creates one veth in one request — the fabric end enslaved to the
// segment's bridge and up, the host end named as the interface, with its
// MAC, in the host — then gives the host end its address and brings it
// up. It returns the host end's ifindex.
func addLeg(ctx context.Context, fc *rtnlConn, host netns.Fresh, bridge int, leg string, i InterfaceSpec, tm *timings) (int, error) {
	t0 := time.Now()
	v := veth{name: leg, master: bridge, peer: i.Name, peerNS: host.FD}
	if i.MAC != "" {
		mac, err := net.ParseMAC(i.MAC)
		if err != nil {
			return 0, fmt.Errorf("mac %q: %w", i.MAC, err)
		}
		v.mac = mac
	}
	var idx int
	err := netns.RetryTransient(ctx, func() (err error) {
		idx, err = fc.addVeth(v)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("create veth %s/%s: %w", leg, i.Name, err)
	}
	tm.since("host: veth", t0)
	t0 = time.Now()
	if idx == 0 {
		// A kernel that does not echo new links (before 6.3): ask.
		l, err := host.Handle.LinkByName(i.Name)
		if err != nil {
			return 0, fmt.Errorf("find %s in host: %w", i.Name, err)
		}
		idx = l.Attrs().Index
	}
	link := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: idx, Name: i.Name}}
	if i.Address.IsValid() {
		a := &netlink.Addr{IPNet: &net.IPNet{
			IP:   i.Address.Addr().AsSlice(),
			Mask: net.CIDRMask(i.Address.Bits(), 32),
		}}
		if err := host.Handle.AddrAdd(link, a); err != nil {
			return 0, fmt.Errorf("address %s: %w", i.Address, err)
		}
	}
	tm.since("host: address", t0)
	t0 = time.Now()
	if err := host.Handle.LinkSetUp(link); err != nil {
		return 0, fmt.Errorf("set up: %w", err)
	}
	tm.since("host: link up", t0)
	return idx, nil
}

func addRoute(hh *netlink.Handle, spec *HostSpec, links map[string]int, r RouteSpec) error {
	route := &netlink.Route{
		Dst: &net.IPNet{IP: r.To.Addr().AsSlice(), Mask: net.CIDRMask(r.To.Bits(), 32)},
		Gw:  r.Via.AsSlice(),
	}
	// The interface whose prefix holds the gateway carries the route.
	for _, i := range spec.Interfaces {
		if i.Address.IsValid() && i.Address.Masked().Contains(r.Via) {
			route.LinkIndex = links[i.Name]
			break
		}
	}
	return hh.RouteAdd(route)
}
