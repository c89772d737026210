package netimpl

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
)

// Endpoint joins one sandbox to one network. The engine fills the
// addressing fields before the driver's Join runs, so a driver only moves and
// configures an interface: a bridge driver creates a veth, attaches one end
// to its Linux bridge, and moves the other into the sandbox as IfName with
// Addr, MAC and a default route via Gateway.
type Endpoint struct {
	ID string
	// Name is the container's name: libnetwork names endpoints after their
	// container, and a name is unique within a network.
	Name        string
	NetworkID   string
	SandboxID   string
	ContainerID string
	// IfName is the interface inside the sandbox ("eth0", "eth1" in join
	// order); empty for drivers that add no interface (null, host).
	IfName string
	// IfIndex is that interface's index inside the sandbox, when the
	// driver's Join reports it (0: unknown).
	IfIndex int
	// SrcName is the name the sandbox's interface had in the host's
	// namespace before it was moved and renamed IfName ("veth" and 7 hex,
	// libnetwork's srcName); empty for drivers that add none.
	SrcName string
	// Addr is the IPv4 address with its prefix length; nil when the network
	// gives none.
	Addr    *net.IPNet
	MAC     net.HardwareAddr
	Gateway net.IP
	Aliases []string
}

// EndpointSpec is what a join asks for on top of the sandbox and network.
type EndpointSpec struct {
	// Name is the container name the endpoint is known by.
	Name    string
	Aliases []string
	// IPv4 is the address asked for with --ip; the zero Addr means the
	// lowest free one.
	IPv4 netip.Addr
	// Assigned says IPv4 was allocated elsewhere, by the cluster store of
	// a global network: the engine takes it as given, without --ip's rule
	// that the network's subnet be the user's.
	Assigned bool
	// MAC is the address asked for with --mac-address; nil means Docker's
	// 02:42 followed by the IPv4 address.
	MAC net.HardwareAddr
}

func (ep *Endpoint) clone() Endpoint {
	c := *ep
	if ep.Addr != nil {
		c.Addr = &net.IPNet{IP: slices.Clone(ep.Addr.IP), Mask: slices.Clone(ep.Addr.Mask)}
	}
	c.MAC = slices.Clone(ep.MAC)
	c.Gateway = slices.Clone(ep.Gateway)
	c.Aliases = slices.Clone(ep.Aliases)
	return c
}

// CheckAddressed is what a driver that adds an addressed interface needs
// from the engine before its Join: the interface name and the address and
// MAC that IPAM gave the endpoint.
func (ep *Endpoint) CheckAddressed() error {
	switch {
	case ep.IfName == "":
		return fmt.Errorf("endpoint %s: no interface name", ep.Name)
	case ep.Addr == nil || ep.MAC == nil:
		return fmt.Errorf("endpoint %s: no address or MAC", ep.Name)
	}
	return nil
}
