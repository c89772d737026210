// Package null is the driver of Docker's "none" network: a container on it
// has a namespace of its own with only its loopback, and no other network.
package null

import "github.com/nslab/nslab/netimpl"

// Name is the network type.
const Name = "null"

// Driver is the null driver. Only one network of its type may exist: its
// CreateNetwork and DeleteNetwork are netimpl.Singleton's, as libnetwork's
// null driver keeps one.
type Driver struct {
	netimpl.Singleton
}

// New returns a null driver.
func New() *Driver { return &Driver{netimpl.Singleton{Type: Name}} }

// Info implements netimpl.Driver.
func (d *Driver) Info() netimpl.DriverInfo {
	return netimpl.DriverInfo{Name: Name, Scope: netimpl.ScopeLocal, Exclusive: true}
}

// Join adds nothing: the sandbox's fresh namespace already has its loopback
// up, which is all a none-mode container gets.
func (d *Driver) Join(*netimpl.Network, *netimpl.Endpoint, *netimpl.Sandbox) error { return nil }

// Leave removes nothing.
func (d *Driver) Leave(*netimpl.Network, *netimpl.Endpoint, *netimpl.Sandbox) error { return nil }
