package hostd

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/nslab/nslab/netimpl"
)

// netSetup is what the network side of a start produced.
type netSetup struct {
	sandbox  netimpl.Sandbox
	hostname string // "" keeps the UTS namespace's hostname (host mode)
	hosts    string
	resolv   string
	hostFile string
	// joined reports the joining of the container's networks, which runs
	// while the container's process is being prepared.
	joined *joining
}

// joining is the outcome of a start's network joins, awaited once or more.
type joining struct {
	done chan error
	once sync.Once
	err  error
}

func joined(err error) *joining {
	j := &joining{done: make(chan error, 1)}
	j.done <- err
	return j
}

// wait blocks until the joins are over and returns their error.
func (j *joining) wait() error {
	j.once.Do(func() { j.err = <-j.done })
	return j.err
}

// setupNetwork makes the container's sandbox and its hosts, resolv.conf
// and hostname files, checks its endpoints, and starts joining its networks
// in the background: a container start overlaps the kernel's work on its
// veths with the preparation of its process, which waits for ns.joined
// before it runs. Once the joins are over the hosts file holds the
// container's addresses. On error nothing is left.
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
		ns.joined = joined(nil)
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
	type join struct {
		network string
		spec    netimpl.EndpointSpec
	}
	var joins []join
	d.mu.Lock()
	for _, name := range joinOrder(c.networks) {
		spec, err := endpointSpec(c, name, c.networks[name])
		if err != nil {
			d.mu.Unlock()
			return ns, err
		}
		joins = append(joins, join{name, spec})
	}
	d.mu.Unlock()
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
	ns.hosts = filepath.Join(c.dir, "hosts")
	ns.resolv = filepath.Join(c.dir, "resolv.conf")
	ns.hostFile = filepath.Join(c.dir, "hostname")
	if spec.Host {
		// Host mode: the host's own files, copied as Docker copies them,
		// and the host's hostname (no UTS namespace of its own).
		if err := copyFile("/etc/hosts", ns.hosts); err != nil {
			return ns, fmt.Errorf("container %s: hosts: %w", c.Name, err)
		}
		// The virtual host's resolv.conf is the lab's, not the machine's:
		// nothing in a lab may name a resolver outside it. A dockerd in the
		// same virtual host copies this same file.
		if err := writeInPlace(ns.resolv, resolvConf(d.cfg.DNS, nil, nil)); err != nil {
			return ns, fmt.Errorf("container %s: resolv.conf: %w", c.Name, err)
		}
		if err := writeInPlace(ns.hostFile, d.hostname+"\n"); err != nil {
			return ns, fmt.Errorf("container %s: hostname: %w", c.Name, err)
		}
	} else {
		ns.hostname = c.Config.Hostname
		servers := c.HostConfig.DNS
		if len(servers) == 0 {
			servers = d.cfg.DNS
		}
		for _, f := range []struct{ path, content string }{
			// The hosts file gets its content once the addresses are
			// known; it must exist before, to be bound over /etc/hosts.
			{ns.hosts, ""},
			{ns.resolv, d.containerResolvConf(c, servers)},
			{ns.hostFile, c.Config.Hostname + "\n"},
		} {
			if err := writeInPlace(f.path, f.content); err != nil {
				return ns, fmt.Errorf("container %s: %w", c.Name, err)
			}
		}
	}
	var extra []hostsEntry
	for _, h := range c.HostConfig.ExtraHosts {
		if name, ip, ok := strings.Cut(h, ":"); ok {
			extra = append(extra, hostsEntry{IP: ip, Names: []string{name}})
		}
	}
	extra = append(extra, d.linkHosts(c)...)
	names = hostNames(c)
	done := make(chan error, 1)
	ns.joined = &joining{done: done}
	go func(sb, hosts, name string, host bool) {
		var own []hostsEntry
		for _, j := range joins {
			ep, err := d.joinEndpoint(c, sb, j.network, j.spec)
			if err != nil {
				done <- err
				return
			}
			if ep.Addr != nil {
				own = append(own, hostsEntry{IP: ep.Addr.IP.String(), Names: names})
			}
		}
		if err := d.netUp(c, sb); err != nil {
			done <- err
			return
		}
		if !host {
			if err := writeInPlace(hosts, hostsFile(extra, own)); err != nil {
				done <- fmt.Errorf("container %s: %w", name, err)
				return
			}
		}
		done <- nil
	}(ns.sandbox.ID, ns.hosts, c.Name, spec.Host)
	return ns, nil
}

// joinOrder is the order dockerd joins a starting container's networks in:
// the default network first, then the others (dockerd takes them in map
// order; sorted here, so that a start is reproducible).
func joinOrder(networks map[string]*EndpointSettings) []string {
	var names []string
	for name := range networks {
		if name != "bridge" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if _, ok := networks["bridge"]; ok {
		names = append([]string{"bridge"}, names...)
	}
	return names
}

// endpointSpec is what the engine needs to join c to a network: the name,
// the aliases (on a user-defined network with the short id added, as
// dockerd's updateNetworkConfig adds it), the address of --ip and, on the
// network the container was created on, the MAC of --mac-address. Callers
// hold d.mu.
func endpointSpec(c *Container, network string, es *EndpointSettings) (netimpl.EndpointSpec, error) {
	if err := checkEndpointConfig(network, es); err != nil {
		return netimpl.EndpointSpec{}, err
	}
	if userDefined(network) && !slices.Contains(es.Aliases, shortID(c.ID)) {
		es.Aliases = append(es.Aliases, shortID(c.ID))
	}
	spec := netimpl.EndpointSpec{Name: c.Name, Aliases: slices.Clone(es.Aliases)}
	if es.IPAMConfig != nil && es.IPAMConfig.IPv4Address != "" {
		a, err := parseIPv4(es.IPAMConfig.IPv4Address)
		if err != nil {
			return spec, err
		}
		spec.IPv4 = a
	}
	if c.Config.MacAddress != "" && network == netMode(c.HostConfig.NetworkMode).network() {
		mac, err := net.ParseMAC(c.Config.MacAddress)
		if err != nil {
			return spec, badRequest("%s is not a valid mac address", c.Config.MacAddress)
		}
		spec.MAC = mac
	}
	return spec, nil
}

// parseIPv4 reads --ip as dockerd's verifyNetworkingConfig does.
func parseIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Unmap().Is4() {
		return netip.Addr{}, badRequest("invalid IPv4 address: %s", s)
	}
	return a.Unmap(), nil
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
		if err != nil || (n.Name == gatewayBridge && c.networks[n.Name] == nil) {
			// docker_gwbridge is the sandbox's, not one of the
			// container's networks (Docker does not list it).
			continue
		}
		es := c.networks[n.Name]
		if es == nil {
			es = &EndpointSettings{}
			c.networks[n.Name] = es
		}
		es.NetworkID = n.ID
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
