package hostd

import (
	"errors"

	"github.com/nslab/nslab/netimpl"
)

// networkInUse reports whether a container (running or not) is configured
// on the network, which keeps the network from being pruned.
func (d *Daemon) networkInUse(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.containers {
		if _, ok := c.networks[name]; ok {
			return true
		}
	}
	return false
}

// connect attaches a container to a network: a running one at once through
// the engine, a stopped one in its configuration for the next start.
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
	name := c.Name
	d.mu.Unlock()
	if _, err := d.eng.Join(sb, n.ID, netimpl.EndpointSpec{Name: name, Aliases: es.Aliases}); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	es.NetworkID = n.ID
	c.networks[n.Name] = es
	d.fillEndpoints(c)
	return nil
}

// disconnect detaches a container from a network.
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
			return errors.New("container " + c.ID + " is not connected to the network " + networkRef)
		}
		delete(c.networks, n.Name)
		return nil
	}
	sb := c.sandbox.ID
	d.mu.Unlock()
	if err := d.eng.Leave(sb, n.ID); err != nil {
		return err
	}
	d.mu.Lock()
	delete(c.networks, n.Name)
	d.mu.Unlock()
	return nil
}
