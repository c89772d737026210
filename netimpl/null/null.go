// Package null is the driver of Docker's "none" network: a container on it
// has a namespace of its own with only its loopback, and no other network.
// Its Join adds nothing, since the sandbox's fresh namespace already has
// its loopback up.
package null

import "github.com/nslab/nslab/netimpl"

// Name is the network type.
const Name = "null"

// Driver is the null driver. Only one network of its type may exist, as
// libnetwork's null driver keeps one: it is a netimpl.Singleton.
type Driver struct {
	netimpl.Singleton
}

// New returns a null driver: local, and a network a container can be on
// alone only (Exclusive).
func New() *Driver {
	return &Driver{netimpl.Singleton{DriverInfo: netimpl.DriverInfo{Name: Name, Scope: netimpl.ScopeLocal, Exclusive: true}}}
}
