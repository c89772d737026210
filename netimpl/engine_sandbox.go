package netimpl

import (
	"errors"
	"fmt"
	"slices"

	"github.com/nslab/nslab/netimpl/netns"
)

// Docker's texts for joins that its network modes forbid (runconfig errors,
// all "invalid parameter", HTTP 400).
const (
	msgConflictSharedNetwork = "container sharing network namespace with another container or host cannot be connected to any other network"
	msgConflictNoNetwork     = "container cannot be connected to multiple networks with one of the networks in private (none) mode"
)

// NewSandbox creates and pins a sandbox. A shared sandbox pins the other
// sandbox's namespace, so both pins have the same inode.
func (e *Engine) NewSandbox(spec SandboxSpec) (Sandbox, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if spec.PinName == "" {
		return Sandbox{}, Errorf(KindInvalid, "sandbox for %s: empty pin name", spec.ContainerID)
	}
	if spec.Host && spec.Share != "" {
		return Sandbox{}, Errorf(KindInvalid, "sandbox for %s: host and shared at once", spec.ContainerID)
	}
	sb := &sandbox{Sandbox: Sandbox{ID: NewID(), ContainerID: spec.ContainerID, Kind: SandboxOwn}}
	var err error
	switch {
	case spec.Host:
		sb.Kind = SandboxHost
		sb.Key, err = netns.Pin(e.hostNS, spec.PinName)
	case spec.Share != "":
		other, ok := e.sandboxes[spec.Share]
		if !ok {
			return Sandbox{}, Errorf(KindNotFound, "sandbox %s not found", spec.Share)
		}
		sb.Kind = SandboxShared
		sb.SharedWith = other.ID
		sb.Key, err = netns.Pin(other.Key, spec.PinName)
	default:
		sb.Key, err = netns.NewNamed(spec.PinName)
	}
	if err != nil {
		return Sandbox{}, fmt.Errorf("sandbox for %s: %w", spec.ContainerID, err)
	}
	e.sandboxes[sb.ID] = sb
	return sb.Sandbox, nil
}

// Sandbox returns a sandbox by id.
func (e *Engine) Sandbox(id string) (Sandbox, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	sb, ok := e.sandboxes[id]
	if !ok {
		return Sandbox{}, Errorf(KindNotFound, "sandbox %s not found", id)
	}
	return sb.Sandbox, nil
}

// SandboxEndpoints lists a sandbox's endpoints in join order.
func (e *Engine) SandboxEndpoints(id string) []Endpoint {
	e.mu.Lock()
	defer e.mu.Unlock()
	sb, ok := e.sandboxes[id]
	if !ok {
		return nil
	}
	out := make([]Endpoint, 0, len(sb.endpoints))
	for _, epID := range sb.endpoints {
		out = append(out, e.endpoints[epID].clone())
	}
	return out
}

// DeleteSandbox leaves every endpoint of the sandbox, newest first, and
// removes its pin. It goes on after a failed step so that as much as
// possible is gone, and reports every failure.
func (e *Engine) DeleteSandbox(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	sb, ok := e.sandboxes[id]
	if !ok {
		return Errorf(KindNotFound, "sandbox %s not found", id)
	}
	return e.deleteSandbox(sb)
}

func (e *Engine) deleteSandbox(sb *sandbox) error {
	var errs []error
	for i := len(sb.endpoints) - 1; i >= 0; i-- {
		errs = append(errs, e.leave(sb, e.endpoints[sb.endpoints[i]]))
	}
	if err := netns.Delete(sb.Key); err != nil {
		errs = append(errs, fmt.Errorf("sandbox %s: %w", sb.ID[:12], err))
	}
	delete(e.sandboxes, sb.ID)
	return errors.Join(errs...)
}

// Join connects a sandbox to a network: it validates Docker's network-mode
// rules, makes the endpoint, names its interface and lets the driver put it
// into the sandbox.
func (e *Engine) Join(sandboxID, networkRef string, spec EndpointSpec) (Endpoint, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	sb, ok := e.sandboxes[sandboxID]
	if !ok {
		return Endpoint{}, Errorf(KindNotFound, "sandbox %s not found", sandboxID)
	}
	n, err := e.findNetwork(networkRef)
	if err != nil {
		return Endpoint{}, err
	}
	d, err := e.reg.Driver(n.Driver)
	if err != nil {
		return Endpoint{}, err
	}
	info := d.Info()
	for _, ep := range e.endpoints {
		if ep.NetworkID == n.ID && (ep.Name == spec.Name || ep.SandboxID == sb.ID) {
			return Endpoint{}, Errorf(KindForbidden, "endpoint with name %s already exists in network %s", spec.Name, n.Name)
		}
	}
	if err := e.checkModes(sb, info); err != nil {
		return Endpoint{}, err
	}
	ep := &Endpoint{
		ID:          NewID(),
		Name:        spec.Name,
		NetworkID:   n.ID,
		SandboxID:   sb.ID,
		ContainerID: sb.ContainerID,
		Aliases:     slices.Clone(spec.Aliases),
	}
	if info.Interfaces {
		ep.IfName = e.nextIfName(sb)
	}
	if err := d.Join(n, ep, &sb.Sandbox); err != nil {
		return Endpoint{}, fmt.Errorf("network %s: join %s: %w", n.Name, spec.Name, err)
	}
	e.endpoints[ep.ID] = ep
	sb.endpoints = append(sb.endpoints, ep.ID)
	return ep.clone(), nil
}

// checkModes applies Docker's rules: a shared namespace joins nothing, the
// host's namespace joins only host networks, a none sandbox nothing else.
func (e *Engine) checkModes(sb *sandbox, info DriverInfo) error {
	if sb.Kind == SandboxShared || info.HostNamespace != (sb.Kind == SandboxHost) {
		return Errorf(KindInvalid, msgConflictSharedNetwork)
	}
	for _, epID := range sb.endpoints {
		other, err := e.reg.Driver(e.networks[e.endpoints[epID].NetworkID].Driver)
		if err != nil {
			return err
		}
		oi := other.Info()
		if oi.HostNamespace || info.HostNamespace {
			return Errorf(KindInvalid, msgConflictSharedNetwork)
		}
		if oi.Exclusive || info.Exclusive {
			return Errorf(KindInvalid, msgConflictNoNetwork)
		}
	}
	return nil
}

// nextIfName returns the lowest free ethN of the sandbox, as libnetwork's
// sandbox numbers its interfaces.
func (e *Engine) nextIfName(sb *sandbox) string {
	used := map[string]bool{}
	for _, epID := range sb.endpoints {
		used[e.endpoints[epID].IfName] = true
	}
	for i := 0; ; i++ {
		if name := fmt.Sprintf("eth%d", i); !used[name] {
			return name
		}
	}
}

// Leave disconnects a sandbox from a network.
func (e *Engine) Leave(sandboxID, networkRef string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	sb, ok := e.sandboxes[sandboxID]
	if !ok {
		return Errorf(KindNotFound, "sandbox %s not found", sandboxID)
	}
	n, err := e.findNetwork(networkRef)
	if err != nil {
		return err
	}
	for _, epID := range sb.endpoints {
		if ep := e.endpoints[epID]; ep.NetworkID == n.ID {
			return e.leave(sb, ep)
		}
	}
	return Errorf(KindUnknown, "container %s is not connected to network %s", sb.ContainerID, n.Name)
}

// leave runs the driver's Leave and forgets the endpoint. The endpoint is
// forgotten even when the driver fails, so that a half-removed endpoint
// never blocks the removal of its network; the error is still reported.
func (e *Engine) leave(sb *sandbox, ep *Endpoint) error {
	var err error
	n := e.networks[ep.NetworkID]
	if d, derr := e.reg.Driver(n.Driver); derr != nil {
		err = derr
	} else if lerr := d.Leave(n, ep, &sb.Sandbox); lerr != nil {
		err = fmt.Errorf("network %s: leave %s: %w", n.Name, ep.Name, lerr)
	}
	delete(e.endpoints, ep.ID)
	sb.endpoints = slices.DeleteFunc(sb.endpoints, func(id string) bool { return id == ep.ID })
	return err
}
