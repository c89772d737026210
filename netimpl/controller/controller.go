// Package controller is the network half of one virtual host's daemon, as
// libnetwork's controller and dockerd's container operations are together:
// it builds the drivers, the firewall and the engine from hostd's
// configuration, and does the network side of a container's start, stop,
// connect and disconnect (sandbox and endpoints, /etc/hosts and
// resolv.conf, the embedded DNS, published ports, legacy links, the
// cluster store's endpoints and docker_gwbridge), network create, remove,
// list and inspect, the cluster store's watch and hostd's GRE tunnels.
//
// hostd, the Docker API and the process runtime, calls it once per
// operation with the controller's own request types; its errors are
// netimpl's kinds with Docker's texts, which hostd answers with Docker's
// status codes in one place.
package controller

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/nslab/nslab/hostdconfig"
	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/bridge"
	"github.com/nslab/nslab/netimpl/dns"
	"github.com/nslab/nslab/netimpl/firewall"
	"github.com/nslab/nslab/netimpl/host"
	"github.com/nslab/nslab/netimpl/macvlan"
	"github.com/nslab/nslab/netimpl/null"
	"github.com/nslab/nslab/netimpl/portmap"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/undo"
)

// hostNS is the virtual host's network namespace: that of the process's
// main thread, which never switches (package netns). Every thread of hostd
// outside a throwaway one is in it.
const hostNS = "/proc/self/ns/net"

// Options are what the controller takes from its daemon besides the
// configuration.
type Options struct {
	// Log receives what fails where nobody waits for an answer: the
	// cluster store's watch, an undo step, a file of a running container.
	Log *log.Logger
	// Guard runs fn, which starts programs with os/exec and waits for
	// them (the iptables tools): hostd's reaper, which otherwise collects
	// every child, leaves them to their starter meanwhile. nil runs fn.
	Guard func(fn func() error) error
	// Pins is where the /run/netns pins of containers and overlay
	// networks go (the machine's mount namespace when hostd runs in a
	// virtual host's own); nil: the calling process's. With the
	// configuration's ExecRoot, each is also pinned under Docker's name
	// in <ExecRoot>/netns, the sandbox key the engine works through.
	Pins *netns.Pins
}

// Controller is the network side of one virtual host.
type Controller struct {
	cfg   hostdconfig.Config
	log   *log.Logger
	guard func(func() error) error
	pins  *netns.Pins
	// hostname is the host's, a host-mode container's /etc/hostname.
	hostname string
	eng      *netimpl.Engine
	bridge   *bridge.Driver
	macvlan  *macvlan.Driver
	// firewall writes Docker's rules in the host's namespace; they stay
	// when hostd exits, as dockerd leaves its own.
	firewall firewall.Backend
	// cluster is the cluster store and the overlay driver (nil without
	// --cluster-store).
	cluster *cluster
	tunnels tunnels

	// mapper is made at first use (portMapper) and dropped by Reset.
	mapperMu sync.Mutex
	mapper   *portmap.Mapper

	mu sync.Mutex
	// closing: the daemon goes down (BeginClose).
	closing bool
	// tables are the embedded DNS's names, by network id.
	tables map[string]*dns.MemTable
	// sandboxes are the started containers' network sides, by container
	// id.
	sandboxes map[string]*sandbox
}

// New builds the network side of the host from hostd's configuration: the
// firewall (Docker's chains in the host's namespace), the bridge and
// macvlan drivers, with --cluster-store the store's client and the overlay
// driver, the engine with Docker's predefined networks, and the store's
// watch. It acts in the namespace of the process's main thread, which the
// caller has made sure is a virtual host's and never the machine's own
// (hostd refuses to run there). On error nothing of it is left.
func New(cfg hostdconfig.Config, opts Options) (_ *Controller, err error) {
	defaultBridge, err := defaultBridgeSpec(cfg)
	if err != nil {
		return nil, err
	}
	c := &Controller{
		cfg: cfg, log: opts.Log, guard: opts.Guard, pins: opts.Pins,
		tables: map[string]*dns.MemTable{}, sandboxes: map[string]*sandbox{},
	}
	if c.log == nil {
		c.log = log.New(io.Discard, "", 0)
	}
	if c.guard == nil {
		c.guard = func(fn func() error) error { return fn() }
	}
	if c.hostname, err = os.Hostname(); err != nil {
		return nil, err
	}
	var u undo.Steps
	defer u.OnError(&err)
	if err := c.openFirewall(&u); err != nil {
		return nil, err
	}
	drivers, err := c.openDrivers(&u)
	if err != nil {
		return nil, err
	}
	if err := c.openEngine(drivers, defaultBridge); err != nil {
		return nil, fmt.Errorf("network engine: %w", err)
	}
	// The firewall's Setup went in with docker0's rules; a host without a
	// default bridge writes it here.
	if err := c.firewall.WriteHeld(); err != nil {
		c.eng.Close()
		return nil, fmt.Errorf("firewall %s: %w", c.firewall.Name(), err)
	}
	if c.cluster != nil {
		c.cluster.watch(c.clusterEvent)
	}
	return c, nil
}

// openFirewall makes the firewall backend in the calling thread's
// namespace, the host's, and writes Docker's chains, leaving the FORWARD
// policy as dockerd would (forwardPolicy). The iptables tools it runs are
// run under the daemon's guard.
func (c *Controller) openFirewall(u *undo.Steps) error {
	fw, err := firewall.NewWithOptions(c.cfg.Firewall, firewall.Options{Hairpin: c.cfg.NoUserlandProxy, Exec: c.guard, HoldSetup: true})
	if err != nil {
		return err
	}
	u.Add(func() { fw.Close() })
	fp := noteForwardPolicy(c.guard, c.cfg.Firewall)
	if err := fw.Setup(); err != nil {
		return fmt.Errorf("firewall %s: %w", fw.Name(), err)
	}
	if err := fp.restore(fw); err != nil {
		return err
	}
	c.firewall = fw
	return nil
}

// openDrivers makes the drivers of the host's network types: bridge,
// macvlan, null, host, and overlay with a cluster store.
func (c *Controller) openDrivers(u *undo.Steps) ([]netimpl.Driver, error) {
	br, err := bridge.New(bridge.Config{HostNS: hostNS, Firewall: c.firewall})
	if err != nil {
		return nil, err
	}
	u.Add(func() { br.Close() })
	mv, err := macvlan.New(macvlan.Config{HostNS: hostNS})
	if err != nil {
		return nil, err
	}
	u.Add(func() { mv.Close() })
	c.bridge, c.macvlan = br, mv
	drivers := []netimpl.Driver{br, mv, null.New(), host.New()}
	if c.cfg.ClusterStore == "" {
		return drivers, nil
	}
	cl, err := newCluster(c.cfg, c.pins)
	if err != nil {
		return nil, err
	}
	u.Add(func() { cl.close() })
	c.cluster = cl
	return append(drivers, cl.driver), nil
}

// openEngine makes the engine and Docker's predefined networks: the
// default bridge, host and none. The lab's resolvers are the host's: no
// default pool that holds one is handed out.
func (c *Controller) openEngine(drivers []netimpl.Driver, defaultBridge netimpl.NetworkSpec) error {
	reg, err := netimpl.NewRegistry(drivers...)
	if err != nil {
		return err
	}
	var nameservers []netip.Addr
	for _, s := range c.cfg.DNS {
		if a, err := netip.ParseAddr(s); err == nil {
			nameservers = append(nameservers, a)
		}
	}
	c.eng, err = netimpl.New(netimpl.Options{
		Registry:    reg,
		Seed:        c.cfg.Lab + "/" + c.cfg.Host,
		HostNS:      hostNS,
		Nameservers: nameservers,
		// Namespaces made ahead of time keep the kernel's costliest step
		// off a container's start, from the host's first container on.
		PrewarmSandboxes: 8,
		Pins:             c.pins,
		SandboxDir:       sandboxDir(c.cfg),
		Predefined: []netimpl.NetworkSpec{
			defaultBridge,
			{Name: "host", Driver: host.Name},
			{Name: "none", Driver: null.Name},
		},
	})
	return err
}

// sandboxDir is dockerd's <exec-root>/netns, or "" without an exec root.
func sandboxDir(cfg hostdconfig.Config) string {
	if cfg.ExecRoot == "" {
		return ""
	}
	return filepath.Join(cfg.ExecRoot, "netns")
}

// defaultBridgeSpec is the default network as dockerd makes it: docker0
// with Docker's options, on the --bip subnet when one is given (shown in
// inspect as subnet and gateway), else on the first free default pool;
// without inter-container traffic with --icc=false.
func defaultBridgeSpec(cfg hostdconfig.Config) (netimpl.NetworkSpec, error) {
	spec := netimpl.NetworkSpec{Name: "bridge", Driver: bridge.Name, Options: bridge.DefaultNetworkOptions()}
	if cfg.DefaultBridge != "" {
		p, err := hostdconfig.ParseBIP(cfg.DefaultBridge)
		if err != nil {
			return spec, fmt.Errorf("default bridge: %w", err)
		}
		spec.IPAM.Config = []netimpl.IPAMPool{{Subnet: p.Masked().String(), Gateway: p.Addr().String()}}
	}
	if cfg.NoICC {
		spec.Options[bridge.OptICC] = "false"
	}
	return spec, nil
}

// BeginClose says the daemon is going down, before its containers stop:
// their endpoints then stay in the cluster store until Close, whose store
// client withdraws them all within one operation's time (with the store
// away they stay, as a dead host's do), instead of one store round trip
// each.
func (c *Controller) BeginClose() {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
}

// Close takes down what New built, once the daemon's containers are gone:
// the tunnels first (they may be ports of bridges the engine removes), the
// store's watch (no network of the store's may come back meanwhile), the
// engine with every sandbox and network, the store's client and the
// overlay driver, the drivers' handles and the firewall's. Docker's rules
// stay in the host's namespace, as dockerd leaves its own.
func (c *Controller) Close() error {
	c.BeginClose()
	c.mu.Lock()
	var left []string
	for id := range c.sandboxes {
		left = append(left, id)
	}
	c.mu.Unlock()
	var errs []error
	for _, id := range left {
		errs = append(errs, c.Stop(id))
	}
	errs = append(errs, c.tunnels.closeAll())
	if c.cluster != nil {
		c.cluster.stopWatch()
	}
	errs = append(errs, c.eng.Close())
	if c.cluster != nil {
		errs = append(errs, c.cluster.close())
	}
	errs = append(errs, c.bridge.Close(), c.macvlan.Close(), c.firewall.Close())
	return errors.Join(errs...)
}

// Reset puts the network side back to how New left it, once the daemon's
// containers are gone, as a daemon started again would have it: the
// tunnels closed, every local network but the predefined ones removed
// (docker_gwbridge too: a fresh daemon makes it at its first overlay
// endpoint), the port mapper dropped (the next, made at first use, reads
// the ephemeral range then and starts at its first port, where the old
// one went on round it), and the engine rewound (the next default pool,
// the veth pairs' indexes). Global networks stay: they are the cluster
// store's, removed through it once no host has a container on them.
func (c *Controller) Reset() error {
	c.mu.Lock()
	left := len(c.sandboxes)
	c.mu.Unlock()
	if left > 0 {
		return netimpl.Errorf(netimpl.KindConflict, "network reset: %d containers still have a sandbox", left)
	}
	errs := []error{c.tunnels.closeAll()}
	for _, n := range c.eng.Networks() {
		if n.Predefined || n.Scope == netimpl.ScopeGlobal {
			continue
		}
		if err := c.DeleteNetwork(n.ID); err != nil {
			errs = append(errs, fmt.Errorf("network %s: %w", n.Name, err))
		}
	}
	c.mapperMu.Lock()
	if c.mapper != nil {
		errs = append(errs, c.mapper.Close())
		c.mapper = nil
	}
	c.mapperMu.Unlock()
	if c.cluster != nil {
		// Global networks get their subnets and VNIs from the store
		// client's own cursors, not the engine's.
		c.cluster.store.Rewind()
	}
	return errors.Join(append(errs, c.eng.Rewind())...)
}

// Unplug is the first step of a reset, while the containers still run:
// it deletes at once the host's links that removing every container and
// every local network but the predefined would delete one by one (see
// bridge.Driver.Unplug); their removal then finds them gone.
func (c *Controller) Unplug() error {
	gone := map[string]bool{}
	for _, n := range c.eng.Networks() {
		if !n.Predefined && n.Scope != netimpl.ScopeGlobal {
			gone[n.ID] = true
		}
	}
	return c.bridge.Unplug(func(id string) bool { return gone[id] })
}

// DriverNames lists the network drivers, as `docker info` shows them.
func (c *Controller) DriverNames() []string { return c.eng.DriverNames() }

// Network finds a network as Docker does: full id, then exact name, then
// a unique id prefix.
func (c *Controller) Network(ref string) (netimpl.Network, error) { return c.eng.Network(ref) }
