package netimpl

import (
	"maps"
	"net/netip"
	"slices"
	"time"
)

// Scope values, as Docker reports them.
const (
	ScopeLocal  = "local"
	ScopeGlobal = "global"
)

// IPAMPool is one address pool of a network, as `network create --subnet
// --gateway --ip-range --aux-address` gives it. Addresses are kept in their
// textual form, exactly as Docker echoes them back.
type IPAMPool struct {
	Subnet       string
	IPRange      string
	Gateway      string
	AuxAddresses map[string]string
}

// IPAM is a network's address management configuration.
type IPAM struct {
	Driver  string
	Options map[string]string
	Config  []IPAMPool
}

// Network is a layer-2/3 domain that endpoints join, owned by one driver.
type Network struct {
	ID         string
	Name       string
	Driver     string
	Scope      string
	IPAM       IPAM
	Options    map[string]string
	Labels     map[string]string
	Internal   bool
	Attachable bool
	Ingress    bool
	EnableIPv6 bool
	// Predefined networks (bridge, host, none) exist from the start and
	// can be neither created nor removed through the API.
	Predefined bool
	Created    time.Time
	// Pools is what IPAM allocated, one entry per IPAM pool, for drivers
	// with addressing; empty otherwise. IPAM.Config keeps the request as
	// it was given, which is what Docker echoes back when it has one.
	Pools []AddressPool
}

// AddressPool is one IPv4 pool allocated to a network: its subnet, the
// range container addresses come from, the gateway and the reserved
// auxiliary addresses.
type AddressPool struct {
	Subnet  netip.Prefix
	IPRange netip.Prefix // the whole subnet when no --ip-range was given
	Gateway netip.Addr
	Aux     map[string]netip.Addr
}

// NetworkSpec is a request to create a network, as `docker network create`
// sends it. An empty Driver means Docker's default, "bridge".
type NetworkSpec struct {
	Name       string
	Driver     string
	IPAM       IPAM
	Options    map[string]string
	Labels     map[string]string
	Internal   bool
	Attachable bool
	Ingress    bool
	EnableIPv6 bool
}

// DefaultDriver is the driver of a network created without -d.
const DefaultDriver = "bridge"

func (n *Network) clone() Network {
	c := *n
	c.IPAM.Options = maps.Clone(n.IPAM.Options)
	c.IPAM.Config = slices.Clone(n.IPAM.Config)
	for i := range c.IPAM.Config {
		c.IPAM.Config[i].AuxAddresses = maps.Clone(c.IPAM.Config[i].AuxAddresses)
	}
	c.Options = maps.Clone(n.Options)
	c.Labels = maps.Clone(n.Labels)
	c.Pools = slices.Clone(n.Pools)
	for i := range c.Pools {
		c.Pools[i].Aux = maps.Clone(c.Pools[i].Aux)
	}
	return c
}

// msgUserSpecifiedIP is Docker's refusal of --ip where the address
// cannot be the user's to choose.
const msgUserSpecifiedIP = "user specified IP address is supported only when connecting to networks with user configured subnets"

// CheckIPv4 applies Docker's rule for --ip: an address may be asked for
// only on a network whose subnet the user configured (UserSubnets).
func (n *Network) CheckIPv4(want netip.Addr) error {
	if want.IsValid() && !n.UserSubnets() {
		return Errorf(KindInvalid, msgUserSpecifiedIP)
	}
	return nil
}

// UserSubnets reports whether the network was created with a subnet of the
// user's (--subnet), the condition Docker puts on --ip.
func (n *Network) UserSubnets() bool {
	for _, p := range n.IPAM.Config {
		if p.Subnet != "" {
			return true
		}
	}
	return false
}
