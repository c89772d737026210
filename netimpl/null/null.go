// Package null is the driver of Docker's "none" network: a container on it
// has a namespace of its own with only its loopback, and no other network.
package null

import (
	"sync"

	"github.com/nslab/nslab/netimpl"
)

// Name is the network type.
const Name = "null"

// Driver is the null driver. Only one network of its type may exist.
type Driver struct {
	mu      sync.Mutex
	network string
}

// New returns a null driver.
func New() *Driver { return &Driver{} }

// Info implements netimpl.Driver.
func (d *Driver) Info() netimpl.DriverInfo {
	return netimpl.DriverInfo{Name: Name, Scope: netimpl.ScopeLocal, Exclusive: true}
}

// CreateNetwork records the single network of this type, as libnetwork's
// null driver does.
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

// Join adds nothing: the sandbox's fresh namespace already has its loopback
// up, which is all a none-mode container gets.
func (d *Driver) Join(*netimpl.Network, *netimpl.Endpoint, *netimpl.Sandbox) error { return nil }

// Leave removes nothing.
func (d *Driver) Leave(*netimpl.Network, *netimpl.Endpoint, *netimpl.Sandbox) error { return nil }
