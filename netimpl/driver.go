package netimpl

import (
	"fmt"
	"sort"
)

// Driver implements one network type, like a libnetwork driver. The engine
// calls it with its lock held and with fully validated arguments; a driver
// undoes its own partial work when it fails. For drivers with Addressing,
// CreateNetwork sees n.Pools allocated and Join sees ep.Addr, ep.MAC and
// ep.Gateway filled; the engine releases them after Leave and DeleteNetwork.
// The sandbox's default route is the engine's, as it is libnetwork's
// sandbox's: a driver only configures the interface it adds.
type Driver interface {
	// Info describes the driver to the engine.
	Info() DriverInfo
	// CreateNetwork makes the driver's state for a new network (for a
	// bridge driver, the Linux bridge and its gateway address).
	CreateNetwork(n *Network) error
	// DeleteNetwork removes it again; it succeeds on what is already gone.
	DeleteNetwork(n *Network) error
	// Join puts the endpoint into the sandbox: creates its interface, moves
	// it into sb.Key as ep.IfName and configures ep's addresses and routes.
	Join(n *Network, ep *Endpoint, sb *Sandbox) error
	// Leave undoes Join; it succeeds on what is already gone.
	Leave(n *Network, ep *Endpoint, sb *Sandbox) error
}

// A Rewinder is a driver with counters of its own that only grow while it
// runs (the interface indexes of its veth pairs); Rewind puts them back to
// where a driver just made starts. The engine calls it once the driver has
// no endpoint left.
type Rewinder interface {
	Rewind()
}

// DriverInfo is what the engine needs to know about a driver.
type DriverInfo struct {
	// Name is the network type given to `network create -d`.
	Name string
	// Scope is ScopeLocal or ScopeGlobal.
	Scope string
	// HostNamespace: endpoints live in the host's own namespace, so only a
	// host sandbox joins this driver's networks, and it joins no other
	// (Docker's host mode).
	HostNamespace bool
	// Exclusive: a sandbox on this driver's network joins no other network
	// (Docker's none mode).
	Exclusive bool
	// Interfaces: Join adds an interface to the sandbox; the engine names
	// it eth0, eth1, ... in join order.
	Interfaces bool
	// Addressing: the engine allocates an IPv4 pool for each network from
	// Docker's default pools (local or global by Scope) and, before Join,
	// an address, a MAC and the gateway for each endpoint.
	Addressing bool
	// NoGateway: endpoints get an address but no gateway, so they never
	// carry the sandbox's default route (Docker's overlay: the way out
	// is docker_gwbridge's).
	NoGateway bool
}

// Registry holds the drivers one engine may use, by name.
type Registry struct {
	drivers map[string]Driver
}

// NewRegistry registers drivers; two drivers of the same name are an error.
func NewRegistry(drivers ...Driver) (*Registry, error) {
	r := &Registry{drivers: map[string]Driver{}}
	for _, d := range drivers {
		if err := r.Register(d); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Register adds a driver.
func (r *Registry) Register(d Driver) error {
	name := d.Info().Name
	if name == "" {
		return fmt.Errorf("netimpl: driver with an empty name")
	}
	if _, dup := r.drivers[name]; dup {
		return fmt.Errorf("netimpl: driver %q registered twice", name)
	}
	r.drivers[name] = d
	return nil
}

// Driver returns the named driver, or Docker's error for a network type
// that no plugin provides.
func (r *Registry) Driver(name string) (Driver, error) {
	d, ok := r.drivers[name]
	if !ok {
		return nil, Errorf(KindNotFound, "plugin %q not found", name)
	}
	return d, nil
}

// Names lists the registered drivers, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.drivers))
	for n := range r.drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
