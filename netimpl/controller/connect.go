package controller

import (
	"errors"
	"fmt"
	"slices"

	"github.com/nslab/nslab/netimpl"
)

// msgConflictHostNetwork is Docker's refusal to take a host-mode
// container off the host network (runconfig, HTTP 400).
const msgConflictHostNetwork = "container cannot be disconnected from host network or connected to host network"

// ConnectRequest asks to connect a container to a network (docker network
// connect). A running container (one Start made a sandbox for) joins at
// once; of a stopped one only Docker's checks are made, against its Kind
// and the Networks it is configured on, and its daemon records the
// network for its next start.
type ConnectRequest struct {
	ContainerID string
	// Network is a name, an id or an id prefix.
	Network  string
	Endpoint EndpointConfig
	Running  bool
	// Kind is the sandbox the container's network mode gives it.
	Kind     netimpl.SandboxKind
	Networks []string
}

// Connect connects a container to a network and returns the network. A
// running container's /etc/hosts gains the new address (libnetwork's
// updateHostsFile adds it), its resolver the network's names.
func (c *Controller) Connect(req ConnectRequest) (netimpl.Network, error) {
	n, err := c.eng.Network(req.Network)
	if err != nil {
		return netimpl.Network{}, err
	}
	if err := CheckEndpoint(n.Name, req.Endpoint); err != nil {
		return netimpl.Network{}, err
	}
	if !req.Running {
		if slices.Contains(req.Networks, n.Name) {
			return n, nil
		}
		return n, c.eng.CheckJoin(req.Kind, req.Networks, n.ID)
	}
	// A shared namespace is refused before anything is asked of a
	// cluster store; the join checks the rest.
	if err := c.eng.CheckJoin(req.Kind, nil, n.ID); err != nil {
		return netimpl.Network{}, err
	}
	sb := c.sandboxOf(req.ContainerID)
	if sb == nil {
		return netimpl.Network{}, notRunning(req.ContainerID)
	}
	return n, c.connectRunning(sb, n, req.Endpoint)
}

// connectRunning joins a running container's sandbox to a network, then
// follows with its published ports (which move when the new network's
// endpoint is now its gateway), its DNS, resolv.conf and /etc/hosts.
func (c *Controller) connectRunning(sb *sandbox, n netimpl.Network, cfg EndpointConfig) error {
	spec, err := endpointSpec(sb.req.ContainerID, sb.req.Name, n.Name, cfg)
	if err != nil {
		return err
	}
	ep, err := c.joinEndpoint(sb, n.ID, spec)
	if err != nil {
		return err
	}
	if err := c.publishPorts(sb); err != nil {
		// As libnetwork's sbJoin: the join is undone, and the ports go
		// back to the endpoint that had them.
		if lerr := c.eng.Leave(sb.ID, n.ID); lerr != nil {
			c.log.Printf("container %s: undo join of %s: %v", sb.req.Name, n.Name, lerr)
		}
		c.withdraw(sb.req.ContainerID, n.ID)
		if perr := c.publishPorts(sb); perr != nil {
			c.log.Printf("container %s: %v", sb.req.Name, perr)
		}
		return err
	}
	c.mu.Lock()
	sb.req.Networks[n.Name] = cfg
	c.mu.Unlock()
	c.refreshDNS(sb)
	if embeddedDNS(n) && sb.req.ResolvConfPath != "" {
		// libnetwork starts the sandbox's resolver on its first
		// user-defined network and rewrites resolv.conf to point at it,
		// also for a container that started on the default bridge; it
		// stays so after a disconnect.
		if err := writeInPlace(sb.req.ResolvConfPath, embeddedResolvConf(sb.req)); err != nil {
			c.log.Printf("container %s: resolv.conf: %v", sb.req.Name, err)
		}
	}
	if ep.Addr != nil && !sb.req.Host {
		if err := addHostsEntry(sb.req.HostsPath, hostsEntry{IP: ep.Addr.IP.String(), Names: hostNames(sb.req)}); err != nil {
			c.log.Printf("container %s: hosts: %v", sb.req.Name, err)
		}
	}
	return nil
}

// DisconnectRequest asks to disconnect a container from a network (docker
// network disconnect); of a stopped container only the checks are made,
// against the Networks it is configured on.
type DisconnectRequest struct {
	ContainerID string
	Network     string
	Force       bool
	Running     bool
	// Host is host mode.
	Host     bool
	Networks []string
}

// Disconnect takes a container off a network and returns the network it
// left, with the error a driver reported on the way (the endpoint is gone
// all the same); a refused disconnect returns the zero Network. A running
// container's /etc/hosts loses its lines as Docker 20.10's etchosts.Delete
// removes them: every line that ends in the container's names, so those
// of its other networks go too.
func (c *Controller) Disconnect(req DisconnectRequest) (netimpl.Network, error) {
	n, err := c.eng.Network(req.Network)
	if err != nil {
		return netimpl.Network{}, err
	}
	if !req.Force && req.Host && n.Name == "host" {
		return netimpl.Network{}, invalid(msgConflictHostNetwork)
	}
	if !req.Running {
		if !slices.Contains(req.Networks, n.Name) {
			return netimpl.Network{}, fmt.Errorf("container %s is not connected to the network %s", req.ContainerID, n.Name)
		}
		return n, nil
	}
	sb := c.sandboxOf(req.ContainerID)
	if sb == nil {
		return netimpl.Network{}, notRunning(req.ContainerID)
	}
	lerr := c.eng.Leave(sb.ID, n.ID)
	var ne *netimpl.Error
	if errors.As(lerr, &ne) {
		// Refused (not connected): nothing changed.
		return netimpl.Network{}, lerr
	}
	c.leftNetwork(sb, n)
	return n, lerr
}

// leftNetwork follows a running container's leave of a network: its
// endpoint leaves the cluster store (and docker_gwbridge, once no global
// network needs it), its published ports follow its gateway endpoint, its
// resolver the network's names, its /etc/hosts its lines.
func (c *Controller) leftNetwork(sb *sandbox, n netimpl.Network) {
	c.mu.Lock()
	delete(sb.req.Networks, n.Name)
	c.mu.Unlock()
	if n.Scope == netimpl.ScopeGlobal {
		c.withdraw(sb.req.ContainerID, n.ID)
		if err := c.leaveGateway(sb.ID); err != nil {
			c.log.Printf("container %s: leave %s: %v", sb.req.Name, netimpl.GatewayNetwork, err)
		}
	}
	if err := c.publishPorts(sb); err != nil {
		c.log.Printf("container %s: %v", sb.req.Name, err)
	}
	c.refreshDNS(sb)
	// libnetwork deletes the /etc/hosts lines of a network's service
	// records on leave; the default bridge has no service discovery, so
	// leaving it keeps the container's line (seen on Docker 20.10).
	if !sb.req.Host && n.Name != "bridge" {
		if err := deleteHostsEntries(sb.req.HostsPath, hostNames(sb.req)); err != nil {
			c.log.Printf("container %s: hosts: %v", sb.req.Name, err)
		}
	}
}

// Rename follows the rename of a running container, as libnetwork's
// sandbox Rename: its endpoints take the new name, which its networks'
// embedded DNS answers from then on (the old one no longer; aliases
// stay), and on a global network the other hosts learn it through the
// store. A container that does not run has nothing to rename here.
func (c *Controller) Rename(containerID, name string) error {
	sb := c.sandboxOf(containerID)
	if sb == nil {
		return nil
	}
	sb.started.Wait()
	c.mu.Lock()
	sb.req.Name = name
	c.mu.Unlock()
	if err := c.eng.RenameSandbox(sb.ID, name); err != nil {
		return err
	}
	c.refreshDNS(sb)
	return c.republish(sb)
}

// notRunning answers an operation on a running container's network for a
// container that has no sandbox (it stopped meanwhile).
func notRunning(containerID string) error {
	return netimpl.Errorf(netimpl.KindConflict, "container %s has no network sandbox: it is not running", containerID)
}
