package store

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/ipam"
)

// checkNetwork validates a create request completely, before anything is
// read or written, and fills in its defaults.
func checkNetwork(n Network) (Network, error) {
	n = n.clone()
	if !validID(n.ID) {
		return n, fmt.Errorf("network id %q: want a non-empty id without '/'", n.ID)
	}
	if !validID(n.Name) {
		return n, netimpl.Errorf(netimpl.KindInvalid, "invalid name: %s", n.Name)
	}
	if n.Driver == "" {
		n.Driver = DefaultDriver
	}
	if n.Subnet.IsValid() {
		if !n.Subnet.Addr().Is4() {
			return n, netimpl.Errorf(netimpl.KindInvalid, "%v", ipam.ErrNotIPv4)
		}
		n.Subnet = n.Subnet.Masked()
		n.UserSubnet = true
	} else {
		n.UserSubnet = false
		if n.Gateway.IsValid() || n.IPRange.IsValid() {
			return n, netimpl.Errorf(netimpl.KindInvalid, "gateway and ip-range need a subnet")
		}
	}
	n.UserGateway = n.Gateway.IsValid()
	if n.Gateway.IsValid() && !n.Subnet.Contains(n.Gateway) {
		return n, netimpl.Errorf(netimpl.KindInvalid, "gateway %s is not inside subnet %s", n.Gateway, n.Subnet)
	}
	if n.IPRange.IsValid() {
		n.IPRange = n.IPRange.Masked()
		if !n.Subnet.Contains(n.IPRange.Addr()) || n.IPRange.Bits() < n.Subnet.Bits() {
			return n, netimpl.Errorf(netimpl.KindInvalid, "%v", ipam.ErrRangeNotInPool)
		}
	}
	n.VNI = 0
	if n.Created.IsZero() {
		n.Created = time.Now()
	}
	return n, nil
}

// Docker's global pools: 10.0.0.0/8 in /24s.
const (
	globalPools    = 1 << 16
	globalPoolBits = 24
)

func globalPool(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), globalPoolBits)
}

// pickSubnet takes n's subnet in ps: the request's, or the first free /24
// of 10.0.0.0/8 from the start-th on (wrapping round), as libnetwork picks
// a predefined pool after the one it took last. It returns the subnet,
// whether its bitmask is new, and where the next search starts.
func pickSubnet(n Network, ps *poolSpace, start int) (netip.Prefix, bool, int, error) {
	if n.UserSubnet {
		isNew, err := ps.add(n.Subnet, n.IPRange)
		return n.Subnet, isNew, start, err
	}
	taken := ps.masters()
	for j := range globalPools {
		i := (start + j) % globalPools
		p := globalPool(i)
		if overlapsAny(p, taken) {
			continue
		}
		isNew, err := ps.add(p, netip.Prefix{})
		return p, isNew, i + 1, err
	}
	return netip.Prefix{}, false, start, netimpl.Errorf(netimpl.KindUnavailable, "%v", ipam.ErrNoPool)
}

func overlapsAny(p netip.Prefix, list []netip.Prefix) bool {
	for _, q := range list {
		if q.Overlaps(p) {
			return true
		}
	}
	return false
}

// newAddressMask is a subnet's bitmask as libnetwork makes it: its network
// and broadcast addresses taken.
func newAddressMask(subnet netip.Prefix) *bitmask {
	b := newBitmask(poolID(subnet, netip.Prefix{}), size(subnet))
	b.set(0)
	b.set(size(subnet) - 1)
	return b
}

// gatewayOf is the gateway of a new network: the request's, or the
// subnet's first host address.
func gatewayOf(n Network) netip.Addr {
	if n.Gateway.IsValid() {
		return n.Gateway
	}
	return ipam.FirstHost(n.Subnet)
}

// takeAddress takes want (the zero Addr: the lowest free one of the
// network's range, as libnetwork's non-serial allocation) in the subnet's
// bitmask.
func takeAddress(b *bitmask, n Network, want netip.Addr) (netip.Prefix, error) {
	if want.IsValid() {
		if !n.Subnet.Contains(want) {
			return netip.Prefix{}, netimpl.Errorf(netimpl.KindForbidden, "%v", ipam.ErrOutOfRange)
		}
		if err := b.set(ordinal(n.Subnet, want)); err != nil {
			return netip.Prefix{}, netimpl.Errorf(netimpl.KindForbidden, "%v", ipam.ErrAddressInUse)
		}
		return netip.PrefixFrom(want, n.Subnet.Bits()), nil
	}
	start, end := uint64(0), size(n.Subnet)-1
	if n.IPRange.IsValid() {
		start, end = ordinal(n.Subnet, n.IPRange.Addr()), ordinal(n.Subnet, lastAddr(n.IPRange))
	}
	o, ok := b.firstFree(start, end, 0)
	if !ok {
		return netip.Prefix{}, netimpl.Errorf(netimpl.KindUnavailable, "%v", ipam.ErrNoAddress)
	}
	b.set(o)
	return netip.PrefixFrom(addrAt(n.Subnet, o), n.Subnet.Bits()), nil
}

// newVNIMask is the bitmask of the VXLAN ids, VNI FirstVNI its bit 0.
func newVNIMask() *bitmask { return newBitmask("vxlan-id", MaxVNI-FirstVNI+1) }

// takeVNI takes the first free VNI after the one taken last (from: its
// bit + 1), as the overlay driver takes them serially; it returns the VNI
// and the next from.
func takeVNI(b *bitmask, from uint64) (uint32, uint64, error) {
	o, ok := b.firstFree(0, b.bits-1, from)
	if !ok {
		return 0, from, netimpl.Errorf(netimpl.KindUnavailable, "failed to allocate vxlan id: no more ids")
	}
	b.set(o)
	return uint32(o) + FirstVNI, o + 1, nil
}

// checkEndpoint validates an endpoint to publish.
func checkEndpoint(ep Endpoint) error {
	switch {
	case !validID(ep.ID) || !validID(ep.NetworkID):
		return fmt.Errorf("endpoint %q of network %q: bad id", ep.ID, ep.NetworkID)
	case !ep.Addr.IsValid() || !ep.Addr.Addr().Is4():
		return fmt.Errorf("endpoint %s: want an IPv4 address", ep.Name)
	case len(ep.MAC) != 6:
		return fmt.Errorf("endpoint %s: want a 6-byte MAC", ep.Name)
	}
	return nil
}

func errNetworkNotFound(id string) error {
	return netimpl.Errorf(netimpl.KindNotFound, "network %s not found", id)
}

func errNameExists(name string) error {
	return netimpl.Errorf(netimpl.KindConflict, "network with name %s already exists", name)
}

func errActiveEndpoints(n Network) error {
	return netimpl.Errorf(netimpl.KindForbidden, "error while removing network: network %s id %s has active endpoints", n.Name, n.ID)
}

// errGateway is libnetwork's answer to a gateway that is taken (the
// subnet's network or broadcast address, or another network's gateway in
// a subnet shared through --ip-range).
func errGateway(gw netip.Addr) error {
	return netimpl.Errorf(netimpl.KindForbidden, "failed to allocate gateway (%s): %v", gw, ipam.ErrAddressInUse)
}

func sortNetworks(ns []Network) {
	sort.Slice(ns, func(i, j int) bool { return ns[i].Name < ns[j].Name })
}

func sortEndpoints(eps []Endpoint) {
	sort.Slice(eps, func(i, j int) bool {
		if eps[i].NetworkID != eps[j].NetworkID {
			return eps[i].NetworkID < eps[j].NetworkID
		}
		return eps[i].Name < eps[j].Name
	})
}
