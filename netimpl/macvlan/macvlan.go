// Package macvlan is the driver of Docker's macvlan networks: a container's
// interface is a macvlan link on a host interface (the "parent", `-o
// parent=eth1`), with a MAC of its own, so containers sit directly on the
// parent's L2 segment, next to the hosts, with no bridge and no NAT. The
// gateway is a router of that segment; nothing of the host holds it.
//
// As libnetwork's driver: a parent named like "eth1.10" that does not exist
// is created as the 802.1Q sub-interface of eth1 with VLAN id 10 and removed
// with the network; a network without a parent (or --internal) gets a dummy
// parent "dm-<12 hex of the network id>", which isolates it. Two networks
// cannot share a parent. The macvlan link of an endpoint is created in the
// host's namespace under a temporary name ("veth" and 7 hex), moved into the
// sandbox and renamed there, then given the endpoint's MAC and address.
//
// The kernel keeps a macvlan's parent and its children apart: a frame the
// host sends on the parent never reaches a child of that parent, so a host
// cannot reach its own containers over macvlan (it can reach other hosts'
// containers through the segment).
package macvlan

import (
	"errors"
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netns"
)

// Name is the network type.
const Name = "macvlan"

// Config configures the driver.
type Config struct {
	// HostNS is the path of the host's network namespace, where parents
	// live and endpoint links are made (a pin, or /proc/self/ns/net for
	// hostd, which runs in its host's namespace).
	HostNS string
}

// Driver is the macvlan driver.
type Driver struct {
	hostNS string
	host   *netlink.Handle

	mu       sync.Mutex
	networks map[string]*network
}

// network is the driver's state of one network.
type network struct {
	name string // the Docker network's name, for errors
	opts options
	// createdParent: the driver made the parent (an 802.1Q sub-interface
	// or a dummy) and removes it with the network.
	createdParent bool
	// links maps endpoint ids to their interface names in the sandbox.
	links map[string]string
}

// joined is the network's sandbox links by endpoint ID (netimpl.Join, netimpl.Leave).
func (n *network) joined() map[string]string { return n.links }

// New opens the driver's handle in the host's namespace.
func New(cfg Config) (*Driver, error) {
	if cfg.HostNS == "" {
		return nil, errors.New("macvlan: no host namespace")
	}
	h, err := netns.RouteHandle(cfg.HostNS)
	if err != nil {
		return nil, fmt.Errorf("macvlan: %w", err)
	}
	return &Driver{hostNS: cfg.HostNS, host: h, networks: map[string]*network{}}, nil
}

// Close releases the host handle. Networks stay as they are.
func (d *Driver) Close() error {
	d.host.Close()
	return nil
}

// Info implements netimpl.Driver: local scope, one interface per endpoint,
// addresses from the engine's local pools.
func (d *Driver) Info() netimpl.DriverInfo {
	return netimpl.DriverInfo{Name: Name, Scope: netimpl.ScopeLocal, Interfaces: true, Addressing: true}
}

// Parent returns the parent interface of a network the driver holds.
func (d *Driver) Parent(networkID string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.networks[networkID]
	if !ok {
		return "", false
	}
	return n.opts.parent, true
}
