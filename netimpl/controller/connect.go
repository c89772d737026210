package hostd

import (
	"errors"
	"fmt"

	"github.com/nslab/nslab/netimpl"
)

// connect attaches a container to a network: a running one at once through
// the engine (its /etc/hosts gains the new address, as libnetwork's
// updateHostsFile adds it), a stopped one in its configuration for the next
// start.
func (d *Daemon) connect(networkRef, containerRef string, es *EndpointSettings) error {
	n, err := d.eng.Network(networkRef)
	if err != nil {
		return err
	}
	if es == nil {
		es = &EndpointSettings{}
	}
	if err := checkEndpointConfig(n.Name, es); err != nil {
		return err
	}
	if es.IPAMConfig != nil && es.IPAMConfig.IPv4Address != "" {
		if _, err := parseIPv4(es.IPAMConfig.IPv4Address); err != nil {
			return err
		}
	}
	d.mu.Lock()
	c, err := d.lookup(containerRef)
	if err != nil {
		d.mu.Unlock()
		return err
	}
	if _, isContainer := netMode(c.HostConfig.NetworkMode).container(); isContainer {
		d.mu.Unlock()
		return badRequest(msgConflictSharedNetwork)
	}
	if c.state != stateRunning {
		defer d.mu.Unlock()
		if _, ok := c.networks[n.Name]; ok {
			return nil
		}
		for name := range c.networks {
			if name == "host" || n.Name == "host" {
				return badRequest(msgConflictSharedNetwork)
			}
			if name == "none" || n.Name == "none" {
				return badRequest("container cannot be connected to multiple networks with one of the networks in private (none) mode")
			}
		}
		es.NetworkID = n.ID
		c.networks[n.Name] = es
		return nil
	}
	sb := c.sandbox.ID
	hosts, resolv := c.hostsPath, c.resolvPath
	names := hostNames(c)
	spec, err := endpointSpec(c, n.Name, es)
	d.mu.Unlock()
	if err != nil {
		return err
	}
	ep, err := d.joinEndpoint(c, sb, n.ID, spec)
	if err != nil {
		return err
	}
	d.refreshDNS(c, sb)
	if embeddedDNS(n) && resolv != "" {
		// libnetwork starts the sandbox's resolver on its first
		// user-defined network and rewrites resolv.conf to point at it,
		// also for a container that started on the default bridge; it
		// stays so after a disconnect.
		if err := writeInPlace(resolv, embeddedResolvConf(c)); err != nil {
			d.log.Printf("container %s: resolv.conf: %v", c.Name, err)
		}
	}
	if ep.Addr != nil && !netMode(c.HostConfig.NetworkMode).isHost() {
		if err := addHostsEntry(hosts, hostsEntry{IP: ep.Addr.IP.String(), Names: names}); err != nil {
			d.log.Printf("container %s: hosts: %v", c.Name, err)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	es.NetworkID = n.ID
	c.networks[n.Name] = es
	d.fillEndpoints(c)
	return nil
}

// disconnect detaches a container from a network. A running container's
// /etc/hosts loses its lines as Docker 20.10's etchosts.Delete removes
// them: every line that ends in the container's names, so those of its
// other networks go too.
func (d *Daemon) disconnect(networkRef, containerRef string, force bool) error {
	n, err := d.eng.Network(networkRef)
	if err != nil {
		return err
	}
	d.mu.Lock()
	c, err := d.lookup(containerRef)
	if err != nil {
		d.mu.Unlock()
		return err
	}
	if !force && netMode(c.HostConfig.NetworkMode).isHost() && n.Name == "host" {
		d.mu.Unlock()
		return badRequest(msgConflictHostNetwork)
	}
	if c.state != stateRunning {
		defer d.mu.Unlock()
		if _, ok := c.networks[n.Name]; !ok {
			return fmt.Errorf("container %s is not connected to the network %s", c.ID, n.Name)
		}
		delete(c.networks, n.Name)
		return nil
	}
	sb := c.sandbox.ID
	hosts := c.hostsPath
	names := hostNames(c)
	hostMode := netMode(c.HostConfig.NetworkMode).isHost()
	d.mu.Unlock()
	lerr := d.eng.Leave(sb, n.ID)
	var ne *netimpl.Error
	if errors.As(lerr, &ne) {
		// Refused (not connected): nothing changed.
		return lerr
	}
	// Otherwise the endpoint is gone, even if the driver reported a
	// failure on the way; the container's view follows.
	if n.Scope == netimpl.ScopeGlobal {
		d.withdraw(c.ID, n.ID)
		if err := d.leaveGateway(sb); err != nil {
			d.log.Printf("container %s: leave %s: %v", c.Name, gatewayBridge, err)
		}
	}
	d.refreshDNS(c, sb)
	// libnetwork deletes the /etc/hosts lines of a network's service
	// records on leave; the default bridge has no service discovery, so
	// leaving it keeps the container's line (seen on Docker 20.10).
	if !hostMode && n.Name != "bridge" {
		if err := deleteHostsEntries(hosts, names); err != nil {
			d.log.Printf("container %s: hosts: %v", c.Name, err)
		}
	}
	d.mu.Lock()
	delete(c.networks, n.Name)
	d.mu.Unlock()
	return lerr
}
