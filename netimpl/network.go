package netimpl

import (
	"maps"
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
	// Predefined networks (host, none, later bridge) exist from the start
	// and can be neither created nor removed through the API.
	Predefined bool
	Created    time.Time
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
	return c
}
