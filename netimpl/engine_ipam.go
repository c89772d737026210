package netimpl

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sort"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netimpl/ipam"
	"github.com/nslab/nslab/netns"
)

// poolRequest is one IPAM pool of a create request, parsed.
type poolRequest struct {
	subnet  netip.Prefix // zero: the next free pool of the defaults
	ipRange netip.Prefix
	gateway netip.Addr
	aux     map[string]netip.Addr
}

// parsePools checks a network's IPAM configuration completely, with
// Docker's messages, before anything is allocated.
func parsePools(spec NetworkSpec, scope string) ([]poolRequest, error) {
	if err := CheckIPAMDriver(spec.IPAM.Driver); err != nil {
		return nil, err
	}
	space := addressSpace(scope)
	var out []poolRequest
	for _, c := range spec.IPAM.Config {
		var r poolRequest
		if c.Subnet != "" {
			p, err := netip.ParsePrefix(c.Subnet)
			if err != nil {
				return nil, Errorf(KindUnknown, "Invalid subnet %s : invalid CIDR address: %s", c.Subnet, c.Subnet)
			}
			if !p.Addr().Is4() {
				return nil, Errorf(KindInvalid, "invalid subnet %s: only IPv4 pools are supported", c.Subnet)
			}
			r.subnet = p.Masked()
		}
		if c.IPRange != "" {
			p, err := netip.ParsePrefix(c.IPRange)
			if err != nil || !p.Addr().Is4() {
				return nil, Errorf(KindUnknown, "failed to parse pool request for address space %q pool %q subpool %q: Invalid Address SubPool", space, c.Subnet, c.IPRange)
			}
			p = p.Masked()
			if r.subnet.IsValid() && (!r.subnet.Contains(p.Addr()) || p.Bits() < r.subnet.Bits()) {
				return nil, Errorf(KindInvalid, "ip-range %s is not inside subnet %s", c.IPRange, c.Subnet)
			}
			r.ipRange = p
		}
		if c.Gateway != "" {
			a, err := netip.ParseAddr(c.Gateway)
			if err != nil || !a.Is4() {
				return nil, Errorf(KindUnknown, "invalid gateway address %s in Ipam configuration", c.Gateway)
			}
			r.gateway = a
		}
		for _, k := range sortedKeys(c.AuxAddresses) {
			v := c.AuxAddresses[k]
			a, err := netip.ParseAddr(v)
			if err != nil || !a.Is4() {
				return nil, Errorf(KindUnknown, "invalid auxiliary address %s in Ipam configuration", v)
			}
			if r.subnet.IsValid() && !r.subnet.Contains(a) {
				return nil, Errorf(KindForbidden, "auxiliary address: (%s:%s) must belong to the master pool: %s", k, v, c.Subnet)
			}
			if r.aux == nil {
				r.aux = map[string]netip.Addr{}
			}
			r.aux[k] = a
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		// No configuration: one pool from the defaults, as Docker does.
		out = []poolRequest{{}}
	}
	return out, nil
}

// CheckIPAMDriver refuses an IPAM driver other than Docker's default one
// ("" is the default), with Docker's answer for a plugin it does not have.
func CheckIPAMDriver(name string) error {
	if name != "" && name != "default" {
		return Errorf(KindNotFound, "plugin %q not found", name)
	}
	return nil
}

func addressSpace(scope string) string {
	if scope == ScopeGlobal {
		return "GlobalDefault"
	}
	return "LocalDefault"
}

func sortedKeys(m map[string]string) []string {
	ks := slices.Collect(maps.Keys(m))
	sort.Strings(ks)
	return ks
}

// space is the address space of a scope.
func (e *Engine) space(scope string) *ipam.Space {
	if scope == ScopeGlobal {
		return e.global
	}
	return e.local
}

// allocatePools allocates every pool of a request, each with its gateway
// (the first host address unless one was given) and its auxiliary
// addresses. On error nothing stays allocated.
func (e *Engine) allocatePools(reqs []poolRequest, scope string) ([]AddressPool, error) {
	sp := e.space(scope)
	var pools []AddressPool
	undo := func() {
		for _, p := range pools {
			sp.ReleasePool(p.Subnet)
		}
	}
	var avoid []netip.Prefix
	for _, r := range reqs {
		if !r.subnet.IsValid() && scope == ScopeLocal && avoid == nil {
			// libnetwork skips default pools that overlap the host's own
			// routes or resolvers (ipamutils.FindAvailableNetwork).
			var err error
			if avoid, err = e.hostPrefixes(); err != nil {
				undo()
				return nil, err
			}
		}
		subnet, err := sp.RequestPool(r.subnet, r.ipRange, avoid)
		switch {
		case errors.Is(err, ipam.ErrPoolOverlap):
			undo()
			return nil, Errorf(KindForbidden, "%s", err)
		case errors.Is(err, ipam.ErrRangeNotInPool):
			undo()
			return nil, Errorf(KindInvalid, "ip-range %s is not inside the network's subnet", r.ipRange)
		case err != nil:
			undo()
			return nil, Errorf(KindUnknown, "%s", err)
		}
		p := AddressPool{Subnet: subnet, IPRange: subnet, Gateway: r.gateway, Aux: maps.Clone(r.aux)}
		if r.ipRange.IsValid() {
			p.IPRange = r.ipRange
		}
		if !p.Gateway.IsValid() {
			p.Gateway = ipam.FirstHost(subnet)
		}
		// From here on the pool is ours: undo releases it with whatever
		// addresses below were taken in it.
		pools = append(pools, p)
		if _, err := sp.RequestAddress(subnet, p.Gateway); err != nil {
			undo()
			return nil, Errorf(KindUnknown, "failed to allocate gateway (%s): %s", p.Gateway, err)
		}
		for _, k := range slices.Sorted(maps.Keys(r.aux)) {
			a := r.aux[k]
			if !subnet.Contains(a) {
				undo()
				return nil, Errorf(KindForbidden, "auxiliary address: (%s:%s) must belong to the master pool: %s", k, a, subnet)
			}
			if _, err := sp.RequestAddress(subnet, a); err != nil {
				undo()
				return nil, Errorf(KindUnknown, "failed to allocate secondary ip address (%s:%s): %s", k, a, err)
			}
		}
	}
	return pools, nil
}

// releasePools frees a network's pools with every address in them.
func (e *Engine) releasePools(n *Network) {
	sp := e.space(n.Scope)
	for _, p := range n.Pools {
		sp.ReleasePool(p.Subnet)
	}
}

// hostPrefixes lists the destinations of the host's IPv4 routes (a default
// route has none) and its resolvers, read in the host's namespace.
func (e *Engine) hostPrefixes() ([]netip.Prefix, error) {
	h, err := netns.RouteHandle(e.hostNS)
	if err != nil {
		return nil, Errorf(KindUnknown, "list host routes: %s", err)
	}
	defer h.Close()
	routes, err := netns.RouteList(h, nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, Errorf(KindUnknown, "list host routes: %s", err)
	}
	out := []netip.Prefix{}
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if p, ok := prefixOf(r.Dst); ok && p.Bits() > 0 {
			out = append(out, p)
		}
	}
	for _, a := range e.nameservers {
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones).Masked(), true
}

// allocateAddress gives an endpoint its address: the one asked for with
// --ip (or assigned by the cluster store), or the lowest free one of the
// network's first pool that has one.
func (e *Engine) allocateAddress(n *Network, want netip.Addr, assigned bool) (netip.Prefix, AddressPool, error) {
	sp := e.space(n.Scope)
	if want.IsValid() {
		if err := n.CheckIPv4(want); err != nil && !assigned {
			return netip.Prefix{}, AddressPool{}, err
		}
		for _, p := range n.Pools {
			if !p.Subnet.Contains(want) {
				continue
			}
			if _, err := sp.RequestAddress(p.Subnet, want); err != nil {
				if errors.Is(err, ipam.ErrAddressInUse) {
					return netip.Prefix{}, AddressPool{}, Errorf(KindForbidden, "%s", err)
				}
				return netip.Prefix{}, AddressPool{}, Errorf(KindUnknown, "%s", err)
			}
			return netip.PrefixFrom(want, p.Subnet.Bits()), p, nil
		}
		return netip.Prefix{}, AddressPool{}, Errorf(KindUnknown, "Invalid address %s: It does not belong to any of this network's subnets", want)
	}
	for _, p := range n.Pools {
		a, err := sp.RequestAddress(p.Subnet, netip.Addr{})
		if errors.Is(err, ipam.ErrNoAddress) {
			continue
		}
		if err != nil {
			return netip.Prefix{}, AddressPool{}, Errorf(KindUnknown, "%s", err)
		}
		return netip.PrefixFrom(a, p.Subnet.Bits()), p, nil
	}
	return netip.Prefix{}, AddressPool{}, Errorf(KindUnavailable, "no available IPv4 addresses on this network's address pools: %s (%s)", n.Name, n.ID)
}

// releaseAddress frees an endpoint's address.
func (e *Engine) releaseAddress(n *Network, ep *Endpoint) {
	if ep.Addr == nil {
		return
	}
	a, ok := netip.AddrFromSlice(ep.Addr.IP)
	if !ok {
		return
	}
	a = a.Unmap()
	for _, p := range n.Pools {
		if p.Subnet.Contains(a) {
			e.space(n.Scope).ReleaseAddress(p.Subnet, a)
			return
		}
	}
}

// ipNet turns an address with its prefix length into the net form the
// Endpoint carries.
func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), 32)}
}

// validMAC checks a MAC given with --mac-address.
func validMAC(mac net.HardwareAddr) error {
	if len(mac) != 6 || mac[0]&1 != 0 {
		return fmt.Errorf("%s is not a unicast Ethernet address", mac)
	}
	return nil
}
