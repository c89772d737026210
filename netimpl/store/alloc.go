package store

import (
	"errors"
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

// allocation is what a create takes besides the network's own key.
type allocation struct {
	subnet  netip.Prefix
	gateway netip.Addr
	vni     uint32 // 0 for a driver other than overlay
}

// allocate picks n's subnet among the taken ones, as Docker's default IPAM
// picks it (the request's if it overlaps none, else the first free /24 of
// 10.0.0.0/8), its gateway and, for overlay, the lowest free VNI.
func allocate(n Network, pools []netip.Prefix, vnis map[uint32]bool) (allocation, error) {
	sp := ipam.NewSpace(ipam.GlobalDefaults)
	for _, p := range pools {
		// Taken pools never overlap: each was checked against the others.
		sp.RequestPool(p, netip.Prefix{}, nil)
	}
	var a allocation
	var err error
	if a.subnet, err = sp.RequestPool(n.Subnet, n.IPRange, nil); err != nil {
		if errors.Is(err, ipam.ErrPoolOverlap) {
			return a, netimpl.Errorf(netimpl.KindForbidden, "%v", err)
		}
		return a, netimpl.Errorf(netimpl.KindUnavailable, "%v", err)
	}
	a.gateway = n.Gateway
	if !a.gateway.IsValid() {
		a.gateway = ipam.FirstHost(a.subnet)
	}
	if n.Driver == DefaultDriver {
		if a.vni, err = lowestFreeVNI(vnis); err != nil {
			return a, err
		}
	}
	return a, nil
}

func lowestFreeVNI(taken map[uint32]bool) (uint32, error) {
	for v := uint32(FirstVNI); v <= MaxVNI; v++ {
		if !taken[v] {
			return v, nil
		}
	}
	return 0, netimpl.Errorf(netimpl.KindUnavailable, "failed to allocate vxlan id: no more ids")
}

// pickAddress picks want, or the lowest free host address of the
// network's range, that is neither its gateway nor taken.
func pickAddress(n Network, taken []netip.Addr, want netip.Addr) (netip.Prefix, error) {
	sp := ipam.NewSpace(nil)
	if _, err := sp.RequestPool(n.Subnet, n.IPRange, nil); err != nil {
		return netip.Prefix{}, fmt.Errorf("network %s: %w", n.Name, err)
	}
	sp.RequestAddress(n.Subnet, n.Gateway)
	for _, a := range taken {
		sp.RequestAddress(n.Subnet, a)
	}
	if want.IsValid() && want == n.Gateway {
		return netip.Prefix{}, netimpl.Errorf(netimpl.KindForbidden, "%v", ipam.ErrAddressInUse)
	}
	a, err := sp.RequestAddress(n.Subnet, want)
	switch {
	case errors.Is(err, ipam.ErrAddressInUse), errors.Is(err, ipam.ErrOutOfRange):
		return netip.Prefix{}, netimpl.Errorf(netimpl.KindForbidden, "%v", err)
	case errors.Is(err, ipam.ErrNoAddress):
		return netip.Prefix{}, netimpl.Errorf(netimpl.KindUnavailable, "%v", err)
	case err != nil:
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, n.Subnet.Bits()), nil
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
