package netimpl

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl/ipam"
	"github.com/nslab/nslab/netns"
)

// Docker's texts for joins that its network modes forbid (runconfig errors,
// all "invalid parameter", HTTP 400).
const (
	msgConflictSharedNetwork = "container sharing network namespace with another container or host cannot be connected to any other network"
	msgConflictNoNetwork     = "container cannot be connected to multiple networks with one of the networks in private (none) mode"
)

// sandbox is the engine's record of a Sandbox and its endpoints in join order.
type sandbox struct {
	Sandbox
	endpoints []string
	// nextIf numbers the interfaces: like libnetwork's nextIfIndex it only
	// grows, so a container that leaves eth0 and joins again gets eth2.
	nextIf int
	// gateway is the endpoint whose gateway is the default route.
	gateway string
	// pin is the sandbox's /run/netns pin (in Options.Pins' namespace).
	pin string
}

// NewSandbox creates and pins a sandbox: at /run/netns/<PinName> (in the
// mount namespace of Options.Pins) and, with a SandboxDir, under Docker's
// key there. A shared sandbox pins the other sandbox's namespace, so both
// pins have the same inode.
func (e *Engine) NewSandbox(spec SandboxSpec) (Sandbox, error) {
	if spec.PinName == "" {
		return Sandbox{}, Errorf(KindInvalid, "sandbox for %s: empty pin name", spec.ContainerID)
	}
	if spec.Host && spec.Share != "" {
		return Sandbox{}, Errorf(KindInvalid, "sandbox for %s: host and shared at once", spec.ContainerID)
	}
	sb := &sandbox{Sandbox: Sandbox{ID: NewID(), ContainerID: spec.ContainerID, Kind: SandboxOwn, link: &sandboxLink{}}}
	if !spec.Host && spec.Share == "" {
		// A fresh namespace needs nothing of the engine's state, so it is
		// made without the lock: concurrent starts overlap here.
		if err := e.freshSandbox(sb, spec.PinName); err != nil {
			return Sandbox{}, fmt.Errorf("sandbox for %s: %w", spec.ContainerID, err)
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.closed {
			sb.link.close()
			e.unpin(sb)
			return Sandbox{}, Errorf(KindUnavailable, "sandbox for %s: the network engine is closed", spec.ContainerID)
		}
		e.keys[sb.Key]++
		e.sandboxes[sb.ID] = sb
		return sb.public(), nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	src, key := e.hostNS, DefaultSandboxKey
	if !spec.Host {
		other, ok := e.sandboxes[spec.Share]
		if !ok {
			return Sandbox{}, Errorf(KindNotFound, "sandbox %s not found", spec.Share)
		}
		sb.Kind = SandboxShared
		sb.SharedWith = other.ID
		src, key = other.Key, other.Key
	} else {
		sb.Kind = SandboxHost
	}
	if err := e.pinExisting(sb, src, key, spec.PinName); err != nil {
		return Sandbox{}, fmt.Errorf("sandbox for %s: %w", spec.ContainerID, err)
	}
	e.sandboxes[sb.ID] = sb
	return sb.public(), nil
}

// DefaultSandboxKey is Docker's key of the host's own namespace, shared by
// every host-mode container: <exec-root>/netns/default.
const DefaultSandboxKey = "default"

// Prewarm starts making the namespaces of sandboxes to come
// (Options.PrewarmSandboxes), when the caller sees that containers are
// coming (a network or a container created): the first starts then find
// them made instead of making their own while the pool starts filling.
// The namespaces are made in the background; Prewarm returns at once.
func (e *Engine) Prewarm() { e.sandboxPool() }

// RefillSandboxes lets the pool make again the namespaces that sandboxes
// took from it since the last call (netns.Pool.Refill): the caller says
// when, once the start it made a sandbox for no longer needs the CPU.
func (e *Engine) RefillSandboxes() {
	if p := e.pool.Load(); p != nil {
		p.Refill()
	}
}

// sandboxPool is the pool of namespaces made ahead of time, started by its
// first caller; nil without prewarming or after Close. A sandbox asked for
// before Prewarm finds it empty and makes its own namespace meanwhile.
func (e *Engine) sandboxPool() *netns.Pool {
	e.poolOnce.Do(func() {
		if e.poolSize > 0 {
			e.pool.Store(netns.NewPool(e.poolSize, netns.DisableIPv6))
		}
	})
	return e.pool.Load()
}

// freshSandbox makes a new namespace, from the pool when there is one, and
// pins it.
func (e *Engine) freshSandbox(sb *sandbox, pinName string) error {
	var f netns.Fresh
	var err error
	if pool := e.sandboxPool(); pool != nil {
		f, err = pool.Get()
	} else {
		f, err = netns.NewFresh(netns.DisableIPv6)
	}
	if err != nil {
		return err
	}
	defer unix.Close(f.FD)
	if sb.pin, err = e.pins.PinFD(f.FD, pinName); err != nil {
		f.Handle.Close()
		return err
	}
	sb.Key = sb.pin
	if e.sandboxDir != "" {
		// Docker names a sandbox's namespace by its id's first 12 digits.
		sb.Key = filepath.Join(e.sandboxDir, sb.ID[:12])
		if err := netns.PinFDAt(f.FD, sb.Key); err != nil {
			f.Handle.Close()
			return errors.Join(err, e.pins.Delete(sb.pin))
		}
	}
	sb.link.h = f.Handle
	return nil
}

// pinExisting pins the namespace at src (the host's, or the sandbox's
// that key names) for sb: its own /run/netns pin, and the key under
// SandboxDir, made by the first sandbox on it.
func (e *Engine) pinExisting(sb *sandbox, src, key, pinName string) error {
	var err error
	if sb.pin, err = e.pins.Pin(src, pinName); err != nil {
		return err
	}
	sb.Key = sb.pin
	if e.sandboxDir == "" {
		e.keys[sb.Key]++
		return nil
	}
	if !filepath.IsAbs(key) {
		key = filepath.Join(e.sandboxDir, key)
	}
	if e.keys[key] == 0 {
		fd, err := unix.Open(src, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			err = netns.PinFDAt(fd, key)
			unix.Close(fd)
		}
		if err != nil {
			return errors.Join(err, e.pins.Delete(sb.pin))
		}
		if sb.Kind == SandboxHost {
			// dockerd keeps "default" once made, until it stops: the
			// engine holds it as one more user, dropped by Close.
			e.keys[key]++
		}
	}
	e.keys[key]++
	sb.Key = key
	return nil
}

// unpin removes sb's pins: its /run/netns pin, and its key once no other
// sandbox is on it.
func (e *Engine) unpin(sb *sandbox) error {
	err := e.pins.Delete(sb.pin)
	if sb.Key == sb.pin {
		delete(e.keys, sb.Key)
		return err
	}
	if e.keys[sb.Key]--; e.keys[sb.Key] > 0 {
		return err
	}
	delete(e.keys, sb.Key)
	return errors.Join(err, netns.Delete(sb.Key))
}

// Sandbox returns a sandbox by id.
func (e *Engine) Sandbox(id string) (Sandbox, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	sb, ok := e.sandboxes[id]
	if !ok {
		return Sandbox{}, Errorf(KindNotFound, "sandbox %s not found", id)
	}
	return sb.public(), nil
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
		// No rerouting: the namespace goes away with its routes.
		errs = append(errs, e.leave(sb, e.endpoints[sb.endpoints[i]], false))
	}
	sb.link.close()
	if err := e.unpin(sb); err != nil {
		errs = append(errs, fmt.Errorf("sandbox %s: %w", sb.ID[:12], err))
	}
	delete(e.sandboxes, sb.ID)
	return errors.Join(errs...)
}

// Join connects a sandbox to a network: it validates Docker's network-mode
// rules, makes the endpoint with its address, MAC and interface name, lets
// the driver put it into the sandbox, and moves the default route to it
// when it is now the sandbox's gateway endpoint.
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
	if err := e.checkSandboxModes(sb, info); err != nil {
		return Endpoint{}, err
	}
	if spec.MAC != nil {
		if err := validMAC(spec.MAC); err != nil {
			return Endpoint{}, Errorf(KindInvalid, "invalid mac address: %s", err)
		}
	}
	if spec.IPv4.IsValid() && !info.Addressing {
		// A network without addressing has no subnet, the user's or not.
		return Endpoint{}, Errorf(KindInvalid, msgUserSpecifiedIP)
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
		ep.IfName = fmt.Sprintf("eth%d", sb.nextIf)
	}
	if info.Addressing {
		addr, pool, err := e.allocateAddress(n, spec.IPv4.Unmap(), spec.Assigned)
		if err != nil {
			return Endpoint{}, err
		}
		ep.Addr = ipNet(addr)
		if !info.NoGateway {
			ep.Gateway = pool.Gateway.AsSlice()
		}
		ep.MAC = slices.Clone(spec.MAC)
		if ep.MAC == nil {
			ep.MAC = ipam.MAC(addr.Addr())
		}
	}
	if err := d.Join(n, ep, &sb.Sandbox); err != nil {
		e.releaseAddress(n, ep)
		return Endpoint{}, fmt.Errorf("network %s: join %s: %w", n.Name, spec.Name, err)
	}
	e.endpoints[ep.ID] = ep
	sb.endpoints = append(sb.endpoints, ep.ID)
	if info.Interfaces {
		sb.nextIf++
	}
	if err := e.updateGateway(sb); err != nil {
		err = fmt.Errorf("network %s: join %s: %w", n.Name, spec.Name, err)
		return Endpoint{}, errors.Join(err, e.leave(sb, ep, true))
	}
	return ep.clone(), nil
}

// RenameSandbox gives every endpoint of a sandbox a new name, as
// libnetwork's sandbox Rename does when its container is renamed: the
// name is what other containers resolve it by.
func (e *Engine) RenameSandbox(sandboxID, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	sb, ok := e.sandboxes[sandboxID]
	if !ok {
		return Errorf(KindNotFound, "sandbox %s not found", sandboxID)
	}
	for _, id := range sb.endpoints {
		e.endpoints[id].Name = name
	}
	return nil
}

// checkModes applies Docker's rules to a sandbox of kind, on networks of
// the drivers joined, that joins a network of the driver info: a shared
// namespace joins nothing, the host's namespace joins only host networks,
// a none sandbox nothing else.
func checkModes(kind SandboxKind, joined []DriverInfo, info DriverInfo) error {
	if kind == SandboxShared || info.HostNamespace != (kind == SandboxHost) {
		return Errorf(KindInvalid, msgConflictSharedNetwork)
	}
	for _, oi := range joined {
		if oi.HostNamespace || info.HostNamespace {
			return Errorf(KindInvalid, msgConflictSharedNetwork)
		}
		if oi.Exclusive || info.Exclusive {
			return Errorf(KindInvalid, msgConflictNoNetwork)
		}
	}
	return nil
}

// checkSandboxModes applies checkModes to a sandbox and its endpoints.
func (e *Engine) checkSandboxModes(sb *sandbox, info DriverInfo) error {
	joined := make([]DriverInfo, 0, len(sb.endpoints))
	for _, epID := range sb.endpoints {
		ji, err := e.driverInfo(e.networks[e.endpoints[epID].NetworkID])
		if err != nil {
			return err
		}
		joined = append(joined, ji)
	}
	return checkModes(sb.Kind, joined, info)
}

// CheckJoin applies the rules a join checks (checkModes) to a container
// that is not running, whose next start will join its networks: a sandbox
// of kind, configured on the networks joined (names or ids; one that no
// longer exists is passed over, its start will say so), asked to join
// network as well.
func (e *Engine) CheckJoin(kind SandboxKind, joined []string, network string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, err := e.findNetwork(network)
	if err != nil {
		return err
	}
	info, err := e.driverInfo(n)
	if err != nil {
		return err
	}
	var infos []DriverInfo
	for _, ref := range joined {
		if jn, err := e.findNetwork(ref); err == nil {
			if ji, err := e.driverInfo(jn); err == nil {
				infos = append(infos, ji)
			}
		}
	}
	return checkModes(kind, infos, info)
}

// driverInfo is the Info of a network's driver.
func (e *Engine) driverInfo(n *Network) (DriverInfo, error) {
	d, err := e.reg.Driver(n.Driver)
	if err != nil {
		return DriverInfo{}, err
	}
	return d.Info(), nil
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
			return e.leave(sb, ep, true)
		}
	}
	return Errorf(KindUnknown, "container %s is not connected to network %s", sb.ContainerID, n.Name)
}

// leave runs the driver's Leave, releases the endpoint's address and
// forgets the endpoint. The endpoint is forgotten even when the driver
// fails, so that a half-removed endpoint never blocks the removal of its
// network; the error is still reported. With reroute, the default route
// moves to the next gateway endpoint when this one provided it.
func (e *Engine) leave(sb *sandbox, ep *Endpoint, reroute bool) error {
	var errs []error
	n := e.networks[ep.NetworkID]
	if d, derr := e.reg.Driver(n.Driver); derr != nil {
		errs = append(errs, derr)
	} else if lerr := d.Leave(n, ep, &sb.Sandbox); lerr != nil {
		errs = append(errs, fmt.Errorf("network %s: leave %s: %w", n.Name, ep.Name, lerr))
	}
	// The address is free again only once the driver's device is gone.
	e.releaseAddress(n, ep)
	delete(e.endpoints, ep.ID)
	sb.endpoints = slices.DeleteFunc(sb.endpoints, func(id string) bool { return id == ep.ID })
	if sb.gateway == ep.ID {
		// Its default route went with its interface.
		sb.gateway = ""
		if reroute {
			if err := e.updateGateway(sb); err != nil {
				errs = append(errs, fmt.Errorf("sandbox %s: %w", sb.ID[:12], err))
			}
		}
	}
	return errors.Join(errs...)
}
