// Package host is the driver of Docker's "host" network: a container on it
// uses the host's own network namespace, so it sees every interface, address
// and route of its (virtual) host.
package host

import (
	"sync"

	"github.com/nslab/nslab/netimpl"
)

// Name is the network type.
const Name = "host"

// Driver is the host driver. Only one network of its type may exist.
type Driver struct {
	mu      sync.Mutex
	network string
}

// New returns a host driver.
func New() *Driver { return &Driver{} }

// Info implements netimpl.Driver. HostNamespace tells the engine that only a
// sandbox made from the host's namespace joins this network.
func (d *Driver) Info() netimpl.DriverInfo {
	return netimpl.DriverInfo{Name: Name, Scope: netimpl.ScopeLocal, HostNamespace: true}
}

// CreateNetwork records the single network of this type, as libnetwork's
// host driver does.
func (d *Driver) CreateNetwork(n *netimpl.Network) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.network != "" {
		return netimpl.Errorf(netimpl.KindForbidden, "only one instance of %q network is allowed", Name)
	}
	d.network = n.ID
	return nil
}

// DeleteNetwork forgets it.
func (d *Driver) DeleteNetwork(n *netimpl.Network) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.network == n.ID {
		d.network = ""
	}
	return nil
}

// Join changes nothing: the sandbox is the host's namespace already.
func (d *Driver) Join(*netimpl.Network, *netimpl.Endpoint, *netimpl.Sandbox) error { return nil }

// Leave changes nothing either; the host's interfaces are not the
// container's to remove.
func (d *Driver) Leave(*netimpl.Network, *netimpl.Endpoint, *netimpl.Sandbox) error { return nil }
