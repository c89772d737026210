package hostd

import (
	"errors"
	"path/filepath"

	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/controller"
)

// netSetup is what the network side of a start produced for the process:
// the sandbox to enter, the hostname and the files to bind.
type netSetup struct {
	sandbox  netimpl.Sandbox
	hostname string // "" keeps the UTS namespace's hostname (host mode)
	hosts    string
	resolv   string
	hostFile string
	// joined reports the joining of the container's networks, which runs
	// while the container's process is being prepared.
	joined joining
}

// joining is the outcome of a start's network joins: wait blocks until
// they are over and returns their error.
type joining struct{ wait func() error }

// setupNetwork asks the controller for the network side of c's start,
// once: its sandbox, its files and the joins of its networks, which go on
// in the background (the process waits for ns.joined before it runs). A
// container:NAME container shares the other's sandbox, files and hostname,
// as Docker shares them. On error nothing is left; once setupNetwork
// succeeded, the controller's Stop undoes it.
func (d *Daemon) setupNetwork(c *Container, links []controller.Link) (ns netSetup, err error) {
	req, ns, err := d.sandboxRequest(c, links)
	if err != nil {
		return ns, err
	}
	st, err := d.ctl.Start(req)
	if err != nil {
		return ns, err
	}
	ns.sandbox, ns.joined = st.Sandbox, joining{wait: st.Wait}
	return ns, nil
}

// sandboxRequest is c's start as the controller asks it, with the files
// and hostname of its process.
func (d *Daemon) sandboxRequest(c *Container, links []controller.Link) (controller.SandboxRequest, netSetup, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	mode := netMode(c.HostConfig.NetworkMode)
	req := controller.SandboxRequest{ContainerID: c.ID, Name: c.Name}
	var ns netSetup
	if target, ok := mode.container(); ok {
		other, err := d.lookup(target)
		switch {
		case err != nil:
			return req, ns, err
		case other == c:
			return req, ns, errors.New("cannot join own network")
		case other.state != StateRunning:
			return req, ns, errdefs.Conflict("cannot join network of a non running container: %s", target)
		}
		req.Share = other.sandbox.ID
		ns.hostname = other.Config.Hostname
		ns.hosts, ns.resolv, ns.hostFile = other.hostsPath, other.resolvPath, other.hostnamePath
		return req, ns, nil
	}
	ns.hosts = filepath.Join(c.dir, "hosts")
	ns.resolv = filepath.Join(c.dir, "resolv.conf")
	ns.hostFile = filepath.Join(c.dir, "hostname")
	if req.Host = mode.isHost(); !req.Host {
		ns.hostname = c.Config.Hostname
	}
	req.Hostname, req.Domainname = c.Config.Hostname, c.Config.Domainname
	req.HostsPath, req.ResolvConfPath, req.HostnamePath = ns.hosts, ns.resolv, ns.hostFile
	req.DNS, req.DNSSearch, req.DNSOptions = c.HostConfig.DNS, c.HostConfig.DNSSearch, c.HostConfig.DNSOptions
	req.ExtraHosts, req.Links = c.HostConfig.ExtraHosts, links
	req.Networks = map[string]controller.EndpointConfig{}
	for name, es := range c.networks {
		cfg := endpointConfig(es)
		if name == mode.network() {
			// --mac-address is the endpoint's on the network the
			// container was created on.
			cfg.MacAddress = c.Config.MacAddress
		}
		req.Networks[name] = cfg
	}
	req.Ports = portRequest(c)
	return req, ns, nil
}

// endpointConfig is what the controller takes of an EndpointSettings.
func endpointConfig(es *types.EndpointSettings) controller.EndpointConfig {
	var cfg controller.EndpointConfig
	if es == nil {
		return cfg
	}
	cfg.Aliases = es.Aliases
	if es.IPAMConfig != nil {
		cfg.IPv4Address, cfg.IPv6Address, cfg.LinkLocalIPs = es.IPAMConfig.IPv4Address, es.IPAMConfig.IPv6Address, es.IPAMConfig.LinkLocalIPs
	}
	return cfg
}

// stopNetwork takes down the network side of c's start or run.
func (d *Daemon) stopNetwork(c *Container) {
	if err := d.ctl.Stop(c.ID); err != nil {
		d.log.Printf("container %s: release network: %v", d.NameOf(c), err)
	}
}

// fillEndpoints copies the controller's endpoints of c into its network
// settings. Callers hold d.mu.
func (d *Daemon) fillEndpoints(c *Container) {
	for _, ep := range d.ctl.Endpoints(c.ID) {
		es := c.networks[ep.Network]
		if es == nil {
			es = &types.EndpointSettings{}
			c.networks[ep.Network] = es
		}
		es.NetworkID = ep.NetworkID
		es.EndpointID = ep.ID
		es.Aliases = ep.Aliases
		if ep.Addr != nil {
			es.IPAddress = ep.Addr.IP.String()
			es.IPPrefixLen, _ = ep.Addr.Mask.Size()
		}
		if ep.Gateway != nil {
			es.Gateway = ep.Gateway.String()
		}
		if ep.MAC != nil {
			es.MacAddress = ep.MAC.String()
		}
	}
}

// clearEndpoints drops the operational data when the container stops, as
// Docker's cleanOperationalData does. Callers hold d.mu.
func clearEndpoints(c *Container) {
	for _, es := range c.networks {
		es.EndpointID, es.Gateway, es.IPAddress, es.MacAddress = "", "", "", ""
		es.IPPrefixLen, es.IPv6Gateway, es.GlobalIPv6Address, es.GlobalIPv6PrefixLen = 0, "", "", 0
	}
}
