package hostd

import (
	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/controller"
)

// Connect attaches a container to a network, as Docker finds them: the
// network, then the container. The controller joins a running one at once
// and checks a stopped one, whose configuration keeps the network for its
// next start.
func (d *Daemon) Connect(networkRef, containerRef string, es *types.EndpointSettings) error {
	n, err := d.ctl.Network(networkRef)
	if err != nil {
		return err
	}
	if es == nil {
		es = &types.EndpointSettings{}
	}
	d.mu.Lock()
	c, err := d.lookup(containerRef)
	if err != nil {
		d.mu.Unlock()
		return err
	}
	req := controller.ConnectRequest{ContainerID: c.ID, Network: n.ID, Endpoint: endpointConfig(es), Running: c.state == StateRunning}
	mode := netMode(c.HostConfig.NetworkMode)
	if n.Name == mode.network() {
		// --mac-address is the endpoint's on the network the container
		// was created on.
		req.Endpoint.MacAddress = c.Config.MacAddress
	}
	switch _, shared := mode.container(); {
	case shared:
		req.Kind = netimpl.SandboxShared
	case mode.isHost():
		req.Kind = netimpl.SandboxHost
	}
	if !req.Running {
		// Checked and recorded at once, so that a start cannot come in
		// between.
		defer d.mu.Unlock()
		req.Networks = networkNames(c)
		if _, err := d.ctl.Connect(req); err != nil {
			return err
		}
		if _, ok := c.networks[n.Name]; !ok {
			// Its NetworkID comes when it joins, at its start.
			c.networks[n.Name] = es
		}
		return nil
	}
	d.mu.Unlock()
	if _, err := d.ctl.Connect(req); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	es.NetworkID = n.ID
	c.networks[n.Name] = es
	d.fillEndpoints(c)
	// A stopped container's connect is logged at its start.
	d.NetworkEvent(n.ID, n.Name, n.Driver, "connect", map[string]string{"container": c.ID})
	return nil
}

// Disconnect detaches a container from a network: a running one through
// the controller, a stopped one in its configuration.
func (d *Daemon) Disconnect(networkRef, containerRef string, force bool) error {
	n, err := d.ctl.Network(networkRef)
	if err != nil {
		return err
	}
	d.mu.Lock()
	c, err := d.lookup(containerRef)
	if err != nil {
		d.mu.Unlock()
		return err
	}
	req := controller.DisconnectRequest{
		ContainerID: c.ID, Network: n.ID, Force: force, Running: c.state == StateRunning,
		Host: netMode(c.HostConfig.NetworkMode).isHost(), Networks: networkNames(c),
	}
	d.mu.Unlock()
	left, err := d.ctl.Disconnect(req)
	if left.Name != "" {
		d.mu.Lock()
		delete(c.networks, left.Name)
		d.mu.Unlock()
		// dockerd logs the disconnect of a running container twice:
		// once as its endpoint leaves, once as the request ends.
		times := 1
		if req.Running {
			times = 2
		}
		for range times {
			d.NetworkEvent(left.ID, left.Name, left.Driver, "disconnect", map[string]string{"container": c.ID})
		}
	}
	return err
}

// networkNames are the networks c is configured on. Callers hold d.mu.
func networkNames(c *Container) []string {
	names := make([]string, 0, len(c.networks))
	for name := range c.networks {
		names = append(names, name)
	}
	return names
}
