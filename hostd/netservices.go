package hostd

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sync"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/bridge"
	"github.com/nslab/nslab/netimpl/dns"
	"github.com/nslab/nslab/netimpl/firewall"
	"github.com/nslab/nslab/netimpl/portmap"
)

// netServices are what a running container gets on top of its endpoints,
// as libnetwork adds them when an endpoint joins: the embedded resolver
// (user-defined networks), published ports (DNAT + userland proxy) and the
// rules and hosts lines of legacy links. Its zero value is ready to use.
type netServices struct {
	mu     sync.Mutex
	tables map[string]*dns.MemTable // by network id: the names on that network
	// per container id
	resolvers map[string]*dns.Server
	chains    map[string]*dns.Chain
	ports     map[string][]publishedPort
	links     map[string]resolvedLinks

	mapperOnce sync.Once
	mapper     *portmap.Mapper
}

// publishedPort is one -p mapping as made: its reservation and proxy, and
// its firewall rules (none for the [::] twin of an IPv4 mapping).
type publishedPort struct {
	binding portmap.Binding
	rule    firewall.Port
}

func (s *netServices) init() {
	if s.tables == nil {
		s.tables = map[string]*dns.MemTable{}
		s.resolvers = map[string]*dns.Server{}
		s.chains = map[string]*dns.Chain{}
		s.ports = map[string][]publishedPort{}
		s.links = map[string]resolvedLinks{}
	}
}

// portMapper is the daemon's port mapper, made at first use so that the
// userland proxy switch of the configuration applies.
func (d *Daemon) portMapper() *portmap.Mapper {
	d.svc.mapperOnce.Do(func() {
		d.svc.mapper = portmap.New(portmap.Options{NoProxy: d.cfg.NoUserlandProxy})
	})
	return d.svc.mapper
}

// bridgeName is the Linux bridge of a bridge-driver network, as the
// firewall names it.
func bridgeName(n netimpl.Network) string {
	if b := n.Options[bridge.OptBridgeName]; b != "" {
		return b
	}
	if n.Name == "bridge" {
		return bridge.DefaultBridgeName
	}
	return "br-" + n.ID[:12]
}

// embeddedDNS says whether containers on n get the 127.0.0.11 resolver:
// every network but the predefined ones, as libnetwork's
// sandbox.enableDNS does for user-defined networks.
func embeddedDNS(n netimpl.Network) bool {
	return !n.Predefined && n.Driver != "null" && n.Driver != "host" && n.Name != gatewayBridge
}

// usesEmbeddedDNS says whether c will be on a user-defined network, so
// that its resolv.conf names 127.0.0.11.
func (d *Daemon) usesEmbeddedDNS(c *Container) bool {
	d.mu.Lock()
	var names []string
	for name := range c.networks {
		names = append(names, name)
	}
	d.mu.Unlock()
	for _, name := range names {
		if n, err := d.eng.Network(name); err == nil && embeddedDNS(n) {
			return true
		}
	}
	return false
}

// containerResolvConf is the resolv.conf Docker writes: on a user-defined
// network, nameserver 127.0.0.11 and "options ndots:0" (the resolver
// forwards to the host's resolvers or --dns); otherwise the resolvers
// themselves.
func (d *Daemon) containerResolvConf(c *Container, servers []string) string {
	if d.usesEmbeddedDNS(c) {
		return embeddedResolvConf(c)
	}
	return resolvConf(servers, c.HostConfig.DNSSearch, c.HostConfig.DNSOptions)
}

// embeddedResolvConf is the resolv.conf of a container whose resolver is
// the embedded DNS.
func embeddedResolvConf(c *Container) string {
	opts := c.HostConfig.DNSOptions
	if !hasNdots(opts) {
		opts = append([]string{"ndots:0"}, opts...)
	}
	return resolvConf([]string{dns.Address.Addr().String()}, c.HostConfig.DNSSearch, opts)
}

func hasNdots(opts []string) bool {
	for _, o := range opts {
		if len(o) > 6 && o[:6] == "ndots:" {
			return true
		}
	}
	return false
}

// upstreams are the resolvers the embedded DNS forwards to: --dns, else
// the virtual host's lab resolvers; never the machine's.
func (d *Daemon) upstreams(c *Container) []netip.AddrPort {
	servers := c.HostConfig.DNS
	if len(servers) == 0 {
		servers = d.cfg.DNS
	}
	var ups []netip.AddrPort
	for _, s := range servers {
		if a, err := netip.ParseAddr(s); err == nil {
			ups = append(ups, netip.AddrPortFrom(a.Unmap(), 53))
		}
	}
	return ups
}

// netUp adds the services of a container whose endpoints have just joined:
// its names in the tables of its networks, its resolver, its published
// ports and its link rules. On error nothing of it is left.
func (d *Daemon) netUp(c *Container, sandboxID string) (err error) {
	eps := d.eng.SandboxEndpoints(sandboxID)
	d.svc.mu.Lock()
	d.svc.init()
	d.svc.mu.Unlock()
	defer func() {
		if err != nil {
			d.netDown(c)
		}
	}()
	if err := d.publishPorts(c, eps); err != nil {
		return err
	}
	if err := d.addLinkRules(c, eps); err != nil {
		return err
	}
	return d.joinDNS(c, eps)
}

// joinDNS puts c's names in the table of each of its user-defined networks
// and starts its resolver, answering from those tables in join order.
func (d *Daemon) joinDNS(c *Container, eps []netimpl.Endpoint) error {
	var tables []dns.Table
	for _, ep := range eps {
		n, err := d.eng.Network(ep.NetworkID)
		if err != nil || !embeddedDNS(n) || ep.Addr == nil {
			continue
		}
		a, _ := netip.AddrFromSlice(ep.Addr.IP.To4())
		d.svc.mu.Lock()
		t := d.svc.tables[n.ID]
		if t == nil {
			t = dns.NewTable()
			d.svc.tables[n.ID] = t
		}
		d.svc.mu.Unlock()
		if err := t.Set(c.ID, dns.EndpointRecords(n.Name, c.Name, ep.Aliases, a)...); err != nil {
			return fmt.Errorf("container %s: network %s: dns: %w", c.Name, n.Name, err)
		}
		tables = append(tables, t)
	}
	d.svc.mu.Lock()
	defer d.svc.mu.Unlock()
	if ch := d.svc.chains[c.ID]; ch != nil {
		// A connect or disconnect of a running container.
		ch.Set(tables...)
		return nil
	}
	if len(tables) == 0 {
		return nil
	}
	// The resolver listens in the container's namespace, entered through
	// its sandbox key (c.sandbox is set only once the start is done).
	sb, err := d.eng.Sandbox(eps[0].SandboxID)
	if err != nil {
		return fmt.Errorf("container %s: embedded dns: %w", c.Name, err)
	}
	ch := dns.NewChain(tables...)
	srv, err := dns.Start(sb.Key, ch, d.upstreams(c), dns.Options{NdotsSet: hasNdots(c.HostConfig.DNSOptions)})
	if err != nil {
		return fmt.Errorf("container %s: embedded dns: %w", c.Name, err)
	}
	d.svc.chains[c.ID], d.svc.resolvers[c.ID] = ch, srv
	return nil
}

// refreshDNS follows a connect or disconnect of a running container: its
// names on each network, and the tables its resolver asks. A container
// that had no resolver and joins its first user-defined network gets one.
func (d *Daemon) refreshDNS(c *Container, sandboxID string) {
	d.svc.mu.Lock()
	d.svc.init()
	for id, t := range d.svc.tables {
		if _, err := d.eng.Network(id); err == nil {
			t.Delete(c.ID)
		}
	}
	d.svc.mu.Unlock()
	if err := d.joinDNS(c, d.eng.SandboxEndpoints(sandboxID)); err != nil {
		d.log.Printf("container %s: %v", c.Name, err)
	}
}

// netDown removes what netUp added. It may be called more than once.
func (d *Daemon) netDown(c *Container) {
	d.svc.mu.Lock()
	d.svc.init()
	srv := d.svc.resolvers[c.ID]
	ports := d.svc.ports[c.ID]
	delete(d.svc.resolvers, c.ID)
	delete(d.svc.chains, c.ID)
	delete(d.svc.ports, c.ID)
	for _, t := range d.svc.tables {
		t.Delete(c.ID)
	}
	d.svc.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	d.unpublish(ports)
	d.removeLinkRules(c)
	// Its endpoints on global networks leave the cluster store.
	d.withdraw(c.ID, "")
}

// publishPorts maps c's published ports on the first bridge network it
// joined, as the bridge driver does for the endpoint that gives the
// container its gateway. The error reads as dockerd's.
func (d *Daemon) publishPorts(c *Container, eps []netimpl.Endpoint) error {
	specs, err := portSpecs(c)
	if err != nil || len(specs) == 0 {
		return err
	}
	for _, ep := range eps {
		n, err := d.eng.Network(ep.NetworkID)
		if err != nil || n.Driver != bridge.Name || ep.Addr == nil {
			continue
		}
		cip, _ := netip.AddrFromSlice(ep.Addr.IP.To4())
		var made []publishedPort
		for _, s := range withIPv6Twins(specs, !d.cfg.NoUserlandProxy && ipv6Listenable()) {
			s.ContainerIP = cip
			b, err := d.portMapper().Map(s)
			if err == nil && b.HostIP.Is6() {
				// The [::] twin: the proxy only, since dockerd 20.10
				// writes no ip6tables rules (--ip6tables is off).
				made = append(made, publishedPort{binding: b})
				continue
			}
			if err == nil {
				rule := firewall.Port{Bridge: bridgeName(n), Proto: b.Proto, HostIP: b.HostIP, HostPort: b.HostPort, ContainerIP: b.ContainerIP, ContainerPort: b.ContainerPort}
				if err = d.firewall.AddPort(rule); err != nil {
					d.portMapper().Unmap(b)
				} else {
					made = append(made, publishedPort{binding: b, rule: rule})
					continue
				}
			}
			d.unpublish(made)
			return errorf(http.StatusInternalServerError, "driver failed programming external connectivity on endpoint %s (%s): %v", c.Name, ep.ID, err)
		}
		d.svc.mu.Lock()
		d.svc.ports[c.ID] = made
		d.svc.mu.Unlock()
		return nil
	}
	return nil
}

func (d *Daemon) unpublish(ports []publishedPort) {
	for i := len(ports) - 1; i >= 0; i-- {
		p := ports[i]
		if p.rule.Bridge == "" {
			// An IPv6 twin: no rule.
		} else if err := d.firewall.RemovePort(p.rule); err != nil {
			d.log.Printf("unpublish %s: %v", p.binding, err)
		}
		if err := d.portMapper().Unmap(p.binding); err != nil && !errors.Is(err, portmap.ErrPortNotMapped) {
			d.log.Printf("unpublish %s: %v", p.binding, err)
		}
	}
}

// publishedPorts is inspect's NetworkSettings.Ports: every exposed or
// published container port, with the host ports made for it (nil when
// only exposed). Empty when the container does not run.
func (d *Daemon) publishedPorts(c *Container) map[string][]PortBinding {
	out := map[string][]PortBinding{}
	d.svc.mu.Lock()
	ports, running := d.svc.ports[c.ID]
	d.svc.mu.Unlock()
	if c.run == nil {
		return out
	}
	for p := range c.Config.ExposedPorts {
		out[normalPort(p)] = nil
	}
	for p := range c.HostConfig.PortBindings {
		out[normalPort(p)] = nil
	}
	if !running {
		return out
	}
	for _, p := range ports {
		k := fmt.Sprintf("%d/%s", p.binding.ContainerPort, p.binding.Proto)
		out[k] = append(out[k], PortBinding{HostIP: p.binding.HostIP.String(), HostPort: fmt.Sprint(p.binding.HostPort)})
	}
	return out
}
