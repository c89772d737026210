package hostd

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/nslab/nslab/netimpl"
)

// netSetup is what the network side of a start produced.
type netSetup struct {
	sandbox  netimpl.Sandbox
	hostname string // "" keeps the UTS namespace's hostname (host mode)
	hosts    string
	resolv   string
	hostFile string
}

// setupNetwork makes the container's sandbox, joins its networks and writes
// its hosts, resolv.conf and hostname files.
func (d *Daemon) setupNetwork(c *Container) (ns netSetup, err error) {
	mode := netMode(c.HostConfig.NetworkMode)
	pin := d.cfg.NetNSPrefix + c.Name
	spec := netimpl.SandboxSpec{ContainerID: c.ID, PinName: pin}
	if target, ok := mode.container(); ok {
		d.mu.Lock()
		other, err := d.lookup(target)
		switch {
		case err != nil:
			d.mu.Unlock()
			return ns, err
		case other == c:
			d.mu.Unlock()
			return ns, errors.New("cannot join own network")
		case other.state != stateRunning:
			d.mu.Unlock()
			return ns, conflict("cannot join network of a non running container: %s", target)
		}
		// Docker shares the other container's files and hostname.
		spec.Share = other.sandbox.ID
		ns.hostname = other.Config.Hostname
		ns.hosts, ns.resolv, ns.hostFile = other.hostsPath, other.resolvPath, other.hostnamePath
		d.mu.Unlock()
		if ns.sandbox, err = d.eng.NewSandbox(spec); err != nil {
			return ns, err
		}
		return ns, nil
	}
	d.mu.Lock()
	var names []string
	for name := range c.networks {
		names = append(names, name)
	}
	d.mu.Unlock()
	for _, name := range names {
		if _, err := d.eng.Network(name); err != nil {
			return ns, err
		}
	}
	spec.Host = mode.isHost()
	if ns.sandbox, err = d.eng.NewSandbox(spec); err != nil {
		return ns, err
	}
	defer func() {
		if err != nil {
			if derr := d.eng.DeleteSandbox(ns.sandbox.ID); derr != nil {
				d.log.Printf("container %s: undo sandbox: %v", c.Name, derr)
			}
		}
	}()
	d.mu.Lock()
	type join struct {
		network string
		spec    netimpl.EndpointSpec
	}
	var joins []join
	for name, es := range c.networks {
		joins = append(joins, join{name, netimpl.EndpointSpec{Name: c.Name, Aliases: es.Aliases}})
	}
	d.mu.Unlock()
	var own []hostsEntry
	for _, j := range joins {
		ep, err := d.eng.Join(ns.sandbox.ID, j.network, j.spec)
		if err != nil {
			return ns, err
		}
		if ep.Addr != nil {
			own = append(own, hostsEntry{IP: ep.Addr.IP.String(), Names: hostNames(c)})
		}
	}
	ns.hosts = filepath.Join(c.dir, "hosts")
	ns.resolv = filepath.Join(c.dir, "resolv.conf")
	ns.hostFile = filepath.Join(c.dir, "hostname")
	if spec.Host {
		// Host mode: the host's own files, copied as Docker copies them,
		// and the host's hostname (no UTS namespace of its own).
		if err := copyFile("/etc/hosts", ns.hosts); err != nil {
			return ns, fmt.Errorf("container %s: hosts: %w", c.Name, err)
		}
		if err := copyFile("/etc/resolv.conf", ns.resolv); err != nil {
			return ns, fmt.Errorf("container %s: resolv.conf: %w", c.Name, err)
		}
		if err := writeInPlace(ns.hostFile, d.hostname+"\n"); err != nil {
			return ns, fmt.Errorf("container %s: hostname: %w", c.Name, err)
		}
		return ns, nil
	}
	ns.hostname = c.Config.Hostname
	var extra []hostsEntry
	for _, h := range c.HostConfig.ExtraHosts {
		if name, ip, ok := strings.Cut(h, ":"); ok {
			extra = append(extra, hostsEntry{IP: ip, Names: []string{name}})
		}
	}
	servers := c.HostConfig.DNS
	if len(servers) == 0 {
		servers = d.cfg.DNS
	}
	for _, f := range []struct{ path, content string }{
		{ns.hosts, hostsFile(extra, own)},
		{ns.resolv, resolvConf(servers, c.HostConfig.DNSSearch, c.HostConfig.DNSOptions)},
		{ns.hostFile, c.Config.Hostname + "\n"},
	} {
		if err := writeInPlace(f.path, f.content); err != nil {
			return ns, fmt.Errorf("container %s: %w", c.Name, err)
		}
	}
	return ns, nil
}

// hostNames is what Docker writes after the container's address in its
// own /etc/hosts: hostname (with the domain first when there is one).
func hostNames(c *Container) []string {
	if c.Config.Domainname != "" {
		return []string{c.Config.Hostname + "." + c.Config.Domainname, c.Config.Hostname}
	}
	return []string{c.Config.Hostname}
}

// fillEndpoints copies the engine's endpoints into the container's network
// settings. Callers hold d.mu.
func (d *Daemon) fillEndpoints(c *Container) {
	for _, ep := range d.eng.SandboxEndpoints(c.sandbox.ID) {
		n, err := d.eng.Network(ep.NetworkID)
		if err != nil {
			continue
		}
		es := c.networks[n.Name]
		if es == nil {
			es = &EndpointSettings{}
			c.networks[n.Name] = es
		}
		es.NetworkID = n.ID
		es.EndpointID = ep.ID
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
