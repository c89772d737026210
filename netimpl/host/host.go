// Package host is the driver of Docker's "host" network: a container on it
// uses the host's own network namespace, so it sees every interface, address
// and route of its (virtual) host. Its Join changes nothing (the sandbox is
// the host's namespace already), nor does its Leave: the host's interfaces
// are not the container's to remove.
package host

import "github.com/nslab/nslab/netimpl"

// Name is the network type.
const Name = "host"

// Driver is the host driver. Only one network of its type may exist, as
// libnetwork's host driver keeps one: it is a netimpl.Singleton.
type Driver struct {
	netimpl.Singleton
}

// New returns a host driver. HostNamespace tells the engine that only a
// sandbox made from the host's namespace joins this network.
func New() *Driver {
	return &Driver{netimpl.Singleton{DriverInfo: netimpl.DriverInfo{Name: Name, Scope: netimpl.ScopeLocal, HostNamespace: true}}}
}
