package netimpl

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nslab/nslab/netimpl/ipam"
	"github.com/nslab/nslab/netns"
)

// Options configures an Engine.
type Options struct {
	// Registry holds the drivers the engine may use.
	Registry *Registry
	// Seed makes the ids of the predefined networks stable for one host
	// ("<lab>/<host>"), see StableID.
	Seed string
	// HostNS is the path of the host's own network namespace, pinned for
	// host-mode sandboxes. Default /proc/self/ns/net: the namespace of the
	// process's main thread, which never switches (see package netns).
	HostNS string
	// Predefined networks exist from the start and cannot be removed
	// (Docker's bridge, host and none).
	Predefined []NetworkSpec
	// Nameservers are the host's resolvers: like the host's routes, no
	// local default pool that holds one is handed out.
	Nameservers []netip.Addr
	// PrewarmSandboxes keeps that many fresh namespaces made ahead of
	// time for new sandboxes, from Prewarm or the first sandbox asked
	// for on (0: each is made when asked for).
	PrewarmSandboxes int
	// Pins is where each sandbox's /run/netns/<PinName> pin is made: the
	// machine's mount namespace when the daemon runs in a virtual host's
	// own. Default: the caller's mount namespace.
	Pins *netns.Pins
	// SandboxDir is dockerd's <exec-root>/netns, /var/run/docker/netns:
	// every sandbox is also pinned there under Docker's name for it, the
	// sandbox key (the first 12 hex digits of the sandbox id; "default"
	// for the host's own namespace), and the engine then works through
	// that pin. Empty: the PinName pin is the sandbox's key.
	SandboxDir string
}

// Engine holds the networks, endpoints and sandboxes of one virtual host
// under one mutex. Methods return copies, never the engine's own objects.
type Engine struct {
	mu          sync.Mutex
	reg         *Registry
	hostNS      string
	nameservers []netip.Addr
	// local and global are Docker's two address spaces: bridge and macvlan
	// networks take their pools from the first, overlay from the second.
	local     *ipam.Space
	global    *ipam.Space
	networks  map[string]*Network
	endpoints map[string]*Endpoint
	sandboxes map[string]*sandbox
	// closed: Close has run; a sandbox made concurrently is undone.
	closed bool
	// pool holds namespaces made ahead of time; nil without prewarming
	// and until Prewarm or the first sandbox asked for (sandboxPool): a
	// host whose daemon never starts a container pays for none of them,
	// in its start and in the kernel's destruction of each at its end.
	pool     atomic.Pointer[netns.Pool]
	poolOnce sync.Once
	poolSize int
	// pins and sandboxDir: Options.Pins and Options.SandboxDir. keys
	// counts the sandboxes on each key under sandboxDir: host-mode
	// sandboxes share "default", a container:NAME one its target's key.
	pins       *netns.Pins
	sandboxDir string
	keys       map[string]int
	// cursors are the address spaces' cursors once the predefined
	// networks were made (local, global): where Rewind puts them back.
	cursors [2]int
}

// New makes an engine and its predefined networks.
func New(opts Options) (*Engine, error) {
	if opts.Registry == nil {
		return nil, errors.New("netimpl: engine without a driver registry")
	}
	if opts.HostNS == "" {
		opts.HostNS = "/proc/self/ns/net"
	}
	e := &Engine{
		reg:         opts.Registry,
		hostNS:      opts.HostNS,
		nameservers: opts.Nameservers,
		local:       ipam.NewSpace(ipam.LocalDefaults),
		global:      ipam.NewSpace(ipam.GlobalDefaults),
		networks:    map[string]*Network{},
		endpoints:   map[string]*Endpoint{},
		sandboxes:   map[string]*sandbox{},
		pins:        opts.Pins,
		sandboxDir:  opts.SandboxDir,
		keys:        map[string]int{},
		poolSize:    opts.PrewarmSandboxes,
	}
	if e.pins == nil {
		e.pins = netns.NewPins(nil)
	}
	for _, spec := range opts.Predefined {
		if _, err := e.createNetwork(spec, StableID(opts.Seed, spec.Name), true); err != nil {
			e.Close()
			return nil, fmt.Errorf("predefined network %s: %w", spec.Name, err)
		}
	}
	e.cursors = [2]int{e.local.Cursor(), e.global.Cursor()}
	return e, nil
}

// Rewind puts back what the engine hands out in turn to where it stood
// once the predefined networks were made: the next subnet of each address
// space, and the drivers' own counters (Rewinder). Networks that remain
// keep their subnets. It refuses while a sandbox exists: its endpoints
// hold what the counters gave them.
func (e *Engine) Rewind() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.sandboxes) > 0 {
		return Errorf(KindConflict, "rewind: %d sandboxes remain", len(e.sandboxes))
	}
	e.local.SetCursor(e.cursors[0])
	e.global.SetCursor(e.cursors[1])
	for _, name := range e.reg.Names() {
		if d, err := e.reg.Driver(name); err == nil {
			if r, ok := d.(Rewinder); ok {
				r.Rewind()
			}
		}
	}
	return nil
}

// IsPredefinedName reports whether Docker reserves name for its own
// networks, whether or not such a network exists on this host.
func IsPredefinedName(name string) bool {
	switch name {
	case "bridge", "host", "none", "default", "ingress":
		return true
	}
	return false
}

// Network finds a network as Docker does: full id, then exact name, then a
// unique id prefix.
func (e *Engine) Network(ref string) (Network, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, err := e.findNetwork(ref)
	if err != nil {
		return Network{}, err
	}
	return n.clone(), nil
}

func (e *Engine) findNetwork(ref string) (*Network, error) {
	if ref == "" {
		return nil, Errorf(KindNotFound, "network %s not found", ref)
	}
	if n, ok := e.networks[ref]; ok {
		return n, nil
	}
	var byName, byPrefix []*Network
	for _, n := range e.networks {
		if n.Name == ref {
			byName = append(byName, n)
		}
		if strings.HasPrefix(n.ID, ref) {
			byPrefix = append(byPrefix, n)
		}
	}
	switch {
	case len(byName) == 1:
		return byName[0], nil
	case len(byName) > 1:
		return nil, Errorf(KindInvalid, "network %s is ambiguous (%d matches found on name)", ref, len(byName))
	case len(byPrefix) == 1:
		return byPrefix[0], nil
	case len(byPrefix) > 1:
		return nil, Errorf(KindInvalid, "network %s is ambiguous (%d matches found based on ID prefix)", ref, len(byPrefix))
	}
	return nil, Errorf(KindNotFound, "network %s not found", ref)
}

// Networks lists every network, sorted by name.
func (e *Engine) Networks() []Network {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Network, 0, len(e.networks))
	for _, n := range e.networks {
		out = append(out, n.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// CreateNetwork creates a network with a fresh random id.
func (e *Engine) CreateNetwork(spec NetworkSpec) (Network, error) {
	return e.CreateNetworkID(NewID(), spec)
}

// CreateNetworkID creates a network with a given id: a global network
// keeps the id the cluster store gave it on every host.
func (e *Engine) CreateNetworkID(id string, spec NetworkSpec) (Network, error) {
	if len(id) < 12 {
		return Network{}, Errorf(KindInvalid, "network %s: id %q is too short", spec.Name, id)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.checkName(spec.Name); err != nil {
		return Network{}, err
	}
	if _, dup := e.networks[id]; dup {
		return Network{}, Errorf(KindConflict, "network with id %s already exists", id)
	}
	n, err := e.createNetwork(spec, id, false)
	if err != nil {
		return Network{}, err
	}
	return n.clone(), nil
}

// CheckName applies Docker's rules for the name of a new network: not
// empty, not one Docker reserves, not one of an existing network. A
// global network checks it before the cluster store is asked.
func (e *Engine) CheckName(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.checkName(name)
}

func (e *Engine) checkName(name string) error {
	if name == "" {
		return Errorf(KindInvalid, "invalid name: %s", name)
	}
	if IsPredefinedName(name) {
		// Docker 20.10's text, trailing space included.
		return Errorf(KindForbidden, "operation is not permitted on predefined %s network ", name)
	}
	for _, n := range e.networks {
		if n.Name == name {
			return Errorf(KindConflict, "network with name %s already exists", name)
		}
	}
	return nil
}

func (e *Engine) createNetwork(spec NetworkSpec, id string, predefined bool) (*Network, error) {
	if spec.Driver == "" {
		spec.Driver = DefaultDriver
	}
	d, err := e.reg.Driver(spec.Driver)
	if err != nil {
		return nil, err
	}
	if spec.IPAM.Driver == "" {
		spec.IPAM.Driver = "default"
	}
	n := &Network{
		ID:         id,
		Name:       spec.Name,
		Driver:     spec.Driver,
		Scope:      d.Info().Scope,
		IPAM:       spec.IPAM,
		Options:    spec.Options,
		Labels:     spec.Labels,
		Internal:   spec.Internal,
		Attachable: spec.Attachable,
		Ingress:    spec.Ingress,
		EnableIPv6: spec.EnableIPv6,
		Predefined: predefined,
		Created:    time.Now(),
	}
	// The engine keeps its own copy: the caller's maps stay the caller's.
	*n = n.clone()
	if d.Info().Addressing {
		reqs, err := parsePools(spec, n.Scope)
		if err != nil {
			return nil, err
		}
		if n.Pools, err = e.allocatePools(reqs, n.Scope); err != nil {
			return nil, err
		}
		if predefined && len(n.IPAM.Config) == 0 {
			// dockerd elects the default bridge's pool before it creates
			// the network, so inspect shows that subnet as configured.
			for _, p := range n.Pools {
				n.IPAM.Config = append(n.IPAM.Config, IPAMPool{Subnet: p.Subnet.String()})
			}
		}
	}
	if err := d.CreateNetwork(n); err != nil {
		e.releasePools(n)
		return nil, err
	}
	e.networks[n.ID] = n
	return n, nil
}

// DeleteNetwork removes a network that no endpoint uses.
func (e *Engine) DeleteNetwork(ref string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, err := e.findNetwork(ref)
	if err != nil {
		return err
	}
	if n.Predefined {
		return Errorf(KindForbidden, "%s is a pre-defined network and cannot be removed", n.Name)
	}
	for _, ep := range e.endpoints {
		if ep.NetworkID == n.ID {
			return Errorf(KindForbidden, "error while removing network: network %s id %s has active endpoints", n.Name, n.ID)
		}
	}
	return e.deleteNetwork(n)
}

func (e *Engine) deleteNetwork(n *Network) error {
	d, err := e.reg.Driver(n.Driver)
	if err != nil {
		return err
	}
	if err := d.DeleteNetwork(n); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	// Addresses go back only once the driver's devices are gone.
	e.releasePools(n)
	delete(e.networks, n.ID)
	return nil
}

// Endpoints lists the endpoints of a network (by id), sorted by name.
func (e *Engine) Endpoints(networkID string) []Endpoint {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Endpoint
	for _, ep := range e.endpoints {
		if ep.NetworkID == networkID {
			out = append(out, ep.clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close removes every sandbox (leaving its endpoints and unpinning it) and
// then every network, predefined ones included, so that nothing the engine
// made outlives it.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	var errs []error
	for _, sb := range e.sandboxes {
		errs = append(errs, e.deleteSandbox(sb))
	}
	for _, n := range e.networks {
		errs = append(errs, e.deleteNetwork(n))
	}
	for key := range e.keys {
		// What is left is the host's "default", held by the engine.
		errs = append(errs, netns.Delete(key))
		delete(e.keys, key)
	}
	// No pool is started after this.
	e.poolOnce.Do(func() {})
	if p := e.pool.Load(); p != nil {
		p.Close()
	}
	return errors.Join(errs...)
}

// DriverNames lists the registered network drivers.
func (e *Engine) DriverNames() []string { return e.reg.Names() }
