// Package bridge is the driver of Docker's bridge networks: one Linux bridge
// per network in the host's namespace ("docker0" for the default network,
// "br-<12 hex of the network id>" for the others) holding the gateway
// address, and one veth pair per endpoint, its host side ("veth" and 7 hex)
// a port of the bridge, its other side the container's ethN with the
// endpoint's address and MAC. The rules the network's options imply (NAT,
// isolation, ICC) belong to the Firewall it is given.
//
// Every netlink call goes through a handle bound to the namespace it acts
// in: the host's, opened once, and the sandbox's, lent by the engine. No
// thread of the caller switches namespace.
package bridge

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/firewall"
	"github.com/nslab/nslab/netns"
)

// Name is the network type.
const Name = "bridge"

// DefaultBridgeName is the Linux bridge of the default network.
const DefaultBridgeName = "docker0"

// Firewall programs what a bridge network implies beyond links and
// addresses: Docker's DOCKER, isolation and MASQUERADE rules. A
// firewall.Backend is one. AddNetwork of a network already present changes
// nothing; RemoveNetwork of an absent one succeeds; on error neither leaves
// anything behind.
type Firewall interface {
	AddNetwork(firewall.Network) error
	RemoveNetwork(firewall.Network) error
}

// Config configures the driver.
type Config struct {
	// HostNS is the path of the host's network namespace, where bridges
	// and host-side veths live (a pin, or /proc/self/ns/net for hostd,
	// which runs in its host's namespace).
	HostNS string
	// Firewall receives every network; nil means no rules at all, so
	// that nothing but routing separates two bridges.
	Firewall Firewall
}

// Driver is the bridge driver.
type Driver struct {
	hostNS   string
	host     *netlink.Handle
	links    *netimpl.LinkSocket
	firewall Firewall

	mu       sync.Mutex
	networks map[string]*network
}

// network is the driver's state of one network.
type network struct {
	name    string // the Docker network's name, for errors
	bridge  string
	index   int // the bridge's interface index
	opts    options
	gateway netip.Prefix // the gateway with the subnet's length
	subnet  netip.Prefix
	// veths maps endpoint ids to their host-side veth names.
	veths map[string]string
}

// joined is the network's host-side veths by endpoint ID (netimpl.Join, netimpl.Leave).
func (n *network) joined() map[string]string { return n.veths }

// rules is the network as the firewall sees it.
func (n *network) rules() firewall.Network {
	return firewall.Network{Bridge: n.bridge, Subnet: n.subnet, ICC: n.opts.icc, Masquerade: n.opts.masquerade, Internal: n.opts.internal}
}

// New opens the driver's handle in the host's namespace and turns on IPv4
// forwarding there, as dockerd does when it starts (--ip-forward).
func New(cfg Config) (*Driver, error) {
	if cfg.HostNS == "" {
		return nil, errors.New("bridge: no host namespace")
	}
	if err := enableForwarding(cfg.HostNS); err != nil {
		return nil, err
	}
	h, links, err := netimpl.OpenHost(cfg.HostNS)
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	return &Driver{hostNS: cfg.HostNS, host: h, links: links, firewall: cfg.Firewall, networks: map[string]*network{}}, nil
}

// enableForwarding writes net.ipv4.ip_forward=1 from a thread inside the
// host's namespace: /proc/sys/net belongs to the namespace of the thread
// that opens it, never to the machine's.
func enableForwarding(hostNS string) error {
	err := netns.Do(hostNS, func() error {
		return netns.WriteRTNLSysctl("net/ipv4/ip_forward", "1")
	})
	if err != nil {
		return fmt.Errorf("bridge: enable IPv4 forwarding in %s: %w", hostNS, err)
	}
	return nil
}

// Close releases the host handle. Networks stay as they are.
func (d *Driver) Close() error {
	d.host.Close()
	d.links.Close()
	return nil
}

// Info implements netimpl.Driver.
func (d *Driver) Info() netimpl.DriverInfo {
	return netimpl.DriverInfo{Name: Name, Scope: netimpl.ScopeLocal, Interfaces: true, Addressing: true}
}

// BridgeName returns the Linux bridge of a network the driver holds.
func (d *Driver) BridgeName(networkID string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.networks[networkID]
	if !ok {
		return "", false
	}
	return n.bridge, true
}

// Rewind implements netimpl.Rewinder: its veth pairs' indexes.
func (d *Driver) Rewind() { d.links.Rewind() }
