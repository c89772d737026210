package netimpl

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
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
	// process's main thread, which never switches (see netimpl/netns).
	HostNS string
	// Predefined networks exist from the start and cannot be removed
	// (Docker's host and none; bridge once its driver exists).
	Predefined []NetworkSpec
}

// Engine holds the networks, endpoints and sandboxes of one virtual host
// under one mutex. Methods return copies, never the engine's own objects.
type Engine struct {
	mu        sync.Mutex
	reg       *Registry
	hostNS    string
	networks  map[string]*Network
	endpoints map[string]*Endpoint
	sandboxes map[string]*sandbox
}

// sandbox is the engine's record of a Sandbox and its endpoints in join order.
type sandbox struct {
	Sandbox
	endpoints []string
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
		reg:       opts.Registry,
		hostNS:    opts.HostNS,
		networks:  map[string]*Network{},
		endpoints: map[string]*Endpoint{},
		sandboxes: map[string]*sandbox{},
	}
	for _, spec := range opts.Predefined {
		if _, err := e.createNetwork(spec, StableID(opts.Seed, spec.Name), true); err != nil {
			e.Close()
			return nil, fmt.Errorf("predefined network %s: %w", spec.Name, err)
		}
	}
	return e, nil
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
	e.mu.Lock()
	defer e.mu.Unlock()
	if spec.Name == "" {
		return Network{}, Errorf(KindInvalid, "invalid name: %s", spec.Name)
	}
	if IsPredefinedName(spec.Name) {
		return Network{}, Errorf(KindForbidden, "%s is a pre-defined network and cannot be created", spec.Name)
	}
	for _, n := range e.networks {
		if n.Name == spec.Name {
			return Network{}, Errorf(KindConflict, "network with name %s already exists", spec.Name)
		}
	}
	n, err := e.createNetwork(spec, NewID(), false)
	if err != nil {
		return Network{}, err
	}
	return n.clone(), nil
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
	if err := d.CreateNetwork(n); err != nil {
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
	var errs []error
	for _, sb := range e.sandboxes {
		errs = append(errs, e.deleteSandbox(sb))
	}
	for _, n := range e.networks {
		errs = append(errs, e.deleteNetwork(n))
	}
	return errors.Join(errs...)
}

// DriverNames lists the registered network drivers.
func (e *Engine) DriverNames() []string { return e.reg.Names() }
