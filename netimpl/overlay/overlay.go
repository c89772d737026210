// Package overlay is the data path of Docker 20.10's classic overlay
// networks (libnetwork drivers/overlay, with --cluster-store): per network
// a namespace of its own holding a Linux bridge "br0" with the subnet's
// gateway address and a VXLAN device "vxlan0" enslaved to it; per container
// a veth pair, one side a port of br0 ("veth0", "veth1", ...), the other the
// container's ethN. Remote containers are peers: a static neighbour entry
// (IP → MAC) on vxlan0, which its proxy flag uses to answer ARP locally, and
// a static FDB entry (MAC → the remote host's underlay address) on vxlan0,
// so the first packet to a peer crosses without any flooding.
//
// As in Docker, the namespace is made when the first local endpoint joins
// and removed when the last one leaves; peers added before that are kept
// and programmed when the namespace is made. The VXLAN device is created
// from the host's namespace, so that its UDP socket (port 4789) lives where
// the underlay is, and born straight into the network's namespace.
//
// The cluster store (VNI allocation, the endpoints of other hosts) is not
// this package's: the caller gives the VNI as the network option
// OptVXLANIDList, as libnetwork hands it to its driver, and calls AddPeer
// and RemovePeer from its store watch.
package overlay

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netns"
)

// Name is the network type.
const Name = "overlay"

// Constants of Docker's overlay driver.
const (
	// VXLANPort is the IANA port Docker uses for VXLAN.
	VXLANPort = 4789
	// Encap is what VXLAN adds to a frame: outer IPv4 (20), UDP (8),
	// VXLAN (8) and the inner Ethernet header (14). Docker's veths and
	// VXLAN device get the underlay MTU minus this.
	Encap = 50
	// MaxVNI is the largest 24-bit VXLAN network identifier.
	MaxVNI = 1<<24 - 1
)

// Network options Docker's overlay driver reads.
const (
	// OptVXLANIDList carries the VNI of each subnet, comma separated
	// (libnetwork's netlabel.OverlayVxlanIDList). This driver takes one.
	OptVXLANIDList = "com.docker.network.driver.overlay.vxlanid_list"
	// OptMTU is the MTU the network's frames may have on the underlay
	// (netlabel.DriverMTU); the devices get it minus Encap.
	OptMTU = "com.docker.network.driver.mtu"
)

// Config configures the driver.
type Config struct {
	// HostNS is the path of the host's namespace, which holds the
	// underlay: VXLAN devices are created from there (hostd passes
	// /proc/self/ns/net, since it runs in its host's namespace).
	HostNS string
	// NSPrefix starts the pin name of each network's namespace:
	// NSPrefix + "ov-" + the first 12 hex digits of the network id.
	NSPrefix string
	// Pins is where those /run/netns pins are made (the machine's mount
	// namespace when the daemon runs in a virtual host's own); default:
	// the caller's mount namespace.
	Pins *netns.Pins
	// SandboxDir is dockerd's <exec-root>/netns: each network's namespace
	// is also pinned there under Docker's name, "1-" and the first 10 hex
	// digits of the network id (seed 003's `ip netns exec 1-46663fb66b`),
	// and the driver then works through that pin. Empty: none.
	SandboxDir string
	// Advertise is this host's underlay address (dockerd's
	// --cluster-advertise). A peer whose VTEP it is runs on this host and
	// needs no entries: AddPeer ignores it, as Docker does with local peers.
	Advertise netip.Addr
	// UnderlayMTU is the MTU of the host's underlay (default 1500). A
	// network without OptMTU gets this minus Encap.
	UnderlayMTU int
	// Learning turns on the VXLAN device's source-address learning, as
	// Docker 20.10 has it. Off by default: every remote MAC is programmed
	// from the store, and a removed peer stays unreachable instead of
	// being learned back from its own packets.
	Learning bool
}

// Driver is the overlay driver. It is safe for concurrent use: the engine
// calls Join and Leave while a store watch calls AddPeer and RemovePeer.
type Driver struct {
	cfg   Config
	host  *netlink.Handle     // route netlink in the host's namespace
	links *netimpl.LinkSocket // the veth pairs' requests, there too

	mu       sync.Mutex
	networks map[string]*network

	// fdbSet programs one FDB entry; tests replace it to make the second
	// step of AddPeer fail.
	fdbSet func(h *netlink.Handle, n *netlink.Neigh) error
}

// New opens the driver's netlink handle in the host's namespace.
func New(cfg Config) (*Driver, error) {
	if cfg.HostNS == "" {
		return nil, errors.New("overlay: no host namespace")
	}
	if cfg.UnderlayMTU == 0 {
		cfg.UnderlayMTU = 1500
	}
	if cfg.UnderlayMTU < 68+Encap || cfg.UnderlayMTU > 65535 {
		return nil, fmt.Errorf("overlay: underlay MTU %d out of range", cfg.UnderlayMTU)
	}
	if cfg.Advertise.IsValid() && !cfg.Advertise.Is4() {
		return nil, fmt.Errorf("overlay: advertise address %s: want IPv4", cfg.Advertise)
	}
	if cfg.Pins == nil {
		cfg.Pins = netns.NewPins(nil)
	}
	h, links, err := netimpl.OpenHost(cfg.HostNS)
	if err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	return &Driver{
		cfg:      cfg,
		host:     h,
		links:    links,
		networks: map[string]*network{},
		fdbSet:   func(h *netlink.Handle, n *netlink.Neigh) error { return h.NeighSet(n) },
	}, nil
}

// Close releases the host handle. Networks stay as they are; the engine
// deletes them first.
func (d *Driver) Close() error {
	d.host.Close()
	d.links.Close()
	return nil
}

// Info implements netimpl.Driver.
func (d *Driver) Info() netimpl.DriverInfo {
	return netimpl.DriverInfo{Name: Name, Scope: netimpl.ScopeGlobal, Interfaces: true, Addressing: true, NoGateway: true}
}

// Namespace returns the pin path of a network's namespace while it exists
// (from the first local join to the last leave): its key under SandboxDir,
// else its /run/netns pin.
func (d *Driver) Namespace(networkID string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.networks[networkID]
	if !ok || n.sb == nil {
		return "", false
	}
	return n.sb.path, true
}

// NamespaceName is the pin name a network's namespace gets.
func (d *Driver) NamespaceName(networkID string) string {
	id := networkID
	if len(id) > 12 {
		id = id[:12]
	}
	return d.cfg.NSPrefix + "ov-" + id
}

// sandboxKey is the path Docker pins a network's namespace at: osl's
// GenerateKey("1-" + id) keeps 12 characters ("1" is the network's
// sandbox epoch, 1 for a network set up once). "" without a SandboxDir.
func (d *Driver) sandboxKey(networkID string) string {
	if d.cfg.SandboxDir == "" {
		return ""
	}
	key := "1-" + networkID
	if len(key) > 12 {
		key = key[:12]
	}
	return filepath.Join(d.cfg.SandboxDir, key)
}

// Rewind implements netimpl.Rewinder: its veth pairs' indexes.
func (d *Driver) Rewind() { d.links.Rewind() }
