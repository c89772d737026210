// Package host is the driver of Docker's "host" network: a container on it
// uses the host's own network namespace, so it sees every interface, address
// and route of its (virtual) host.
package host

import "github.com/nslab/nslab/netimpl"

// Name is the network type.
const Name = "host"

// Driver is the host driver. Only one network of its type may exist: its
// CreateNetwork and DeleteNetwork are netimpl.Singleton's, as libnetwork's
// host driver keeps one.
type Driver struct {
	netimpl.Singleton
}

// New returns a host driver.
func New() *Driver { return &Driver{netimpl.Singleton{Type: Name}} }

// Info implements netimpl.Driver. HostNamespace tells the engine that only a
// sandbox made from the host's namespace joins this network.
func (d *Driver) Info() netimpl.DriverInfo {
	return netimpl.DriverInfo{Name: Name, Scope: netimpl.ScopeLocal, HostNamespace: true}
}

// Join changes nothing: the sandbox is the host's namespace already.
func (d *Driver) Join(*netimpl.Network, *netimpl.Endpoint, *netimpl.Sandbox) error { return nil }

// Leave changes nothing either; the host's interfaces are not the
// container's to remove.
func (d *Driver) Leave(*netimpl.Network, *netimpl.Endpoint, *netimpl.Sandbox) error { return nil }
