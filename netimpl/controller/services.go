package controller

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/bridge"
	"github.com/nslab/nslab/netimpl/dns"
	"github.com/nslab/nslab/netimpl/firewall"
	"github.com/nslab/nslab/netimpl/portmap"
)

// The services of a running container's endpoints, as libnetwork adds
// them when an endpoint joins: the embedded resolver (user-defined
// networks), published ports (DNAT + userland proxy) and the rules of
// legacy links.

// publishedPort is one -p mapping as made: its reservation and proxy, and
// its firewall rules (none for the [::] twin of an IPv4 mapping).
type publishedPort struct {
	binding portmap.Binding
	rule    firewall.Port
}

// portMapper is the host's port mapper, made at first use so that the
// userland proxy switch of the configuration applies.
func (c *Controller) portMapper() *portmap.Mapper {
	c.mapperMu.Lock()
	defer c.mapperMu.Unlock()
	if c.mapper == nil {
		c.mapper = portmap.New(portmap.Options{NoProxy: c.cfg.NoUserlandProxy})
	}
	return c.mapper
}

// embeddedDNS says whether containers on n get the 127.0.0.11 resolver:
// every network but the predefined ones, as libnetwork's
// sandbox.enableDNS does for user-defined networks.
func embeddedDNS(n netimpl.Network) bool {
	return !n.Predefined && n.Driver != "null" && n.Driver != "host" && n.Name != netimpl.GatewayNetwork
}

// usesEmbeddedDNS says whether a starting container will be on a
// user-defined network, so that its resolv.conf names 127.0.0.11.
func (c *Controller) usesEmbeddedDNS(req SandboxRequest) bool {
	for name := range req.Networks {
		if n, err := c.eng.Network(name); err == nil && embeddedDNS(n) {
			return true
		}
	}
	return false
}

// servers are a container's resolvers: --dns, else the virtual host's
// lab resolvers; never the machine's.
func (c *Controller) servers(req SandboxRequest) []string {
	if len(req.DNS) > 0 {
		return req.DNS
	}
	return c.cfg.DNS
}

// containerResolvConf is the resolv.conf Docker writes: on a user-defined
// network, nameserver 127.0.0.11 and "options ndots:0" (the resolver
// forwards to the container's resolvers); otherwise the resolvers
// themselves.
func (c *Controller) containerResolvConf(req SandboxRequest) string {
	if c.usesEmbeddedDNS(req) {
		return embeddedResolvConf(req)
	}
	return resolvConf(c.servers(req), req.DNSSearch, req.DNSOptions)
}

// embeddedResolvConf is the resolv.conf of a container whose resolver is
// the embedded DNS.
func embeddedResolvConf(req SandboxRequest) string {
	opts := req.DNSOptions
	if !hasNdots(opts) {
		opts = append([]string{"ndots:0"}, opts...)
	}
	return resolvConf([]string{dns.Address.Addr().String()}, req.DNSSearch, opts)
}

func hasNdots(opts []string) bool {
	for _, o := range opts {
		if len(o) > 6 && o[:6] == "ndots:" {
			return true
		}
	}
	return false
}

// upstreams are the resolvers the embedded DNS forwards to.
func (c *Controller) upstreams(req SandboxRequest) []netip.AddrPort {
	var ups []netip.AddrPort
	for _, s := range c.servers(req) {
		if a, err := netip.ParseAddr(s); err == nil {
			ups = append(ups, netip.AddrPortFrom(a.Unmap(), 53))
		}
	}
	return ups
}

// servicesUp adds the services of a container whose endpoints have just
// joined: its published ports, its link rules, its names in the tables of
// its networks and its resolver. On error nothing of it is left.
func (c *Controller) servicesUp(sb *sandbox) (err error) {
	eps := c.eng.SandboxEndpoints(sb.ID)
	defer func() {
		if err != nil {
			c.servicesDown(sb)
		}
	}()
	if err := c.publishPorts(sb); err != nil {
		return err
	}
	if err := c.addLinkRules(sb, eps); err != nil {
		return err
	}
	return c.joinDNS(sb, eps)
}

// servicesDown removes what servicesUp added, and the container's
// endpoints in the cluster store. It may be called more than once.
func (c *Controller) servicesDown(sb *sandbox) {
	id := sb.req.ContainerID
	c.mu.Lock()
	srv, ports := sb.resolver, sb.ports
	sb.resolver, sb.chain, sb.ports, sb.external = nil, nil, nil, ""
	for _, t := range c.tables {
		t.Delete(id)
	}
	c.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	c.unpublish(ports)
	c.removeLinkRules(sb)
	c.withdraw(id, "")
}

// dnsTable is the embedded DNS table of a network, made at first use.
func (c *Controller) dnsTable(networkID string) *dns.MemTable {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tables[networkID]
	if t == nil {
		t = dns.NewTable()
		c.tables[networkID] = t
	}
	return t
}

// dropDNSTable forgets the table of a network that went.
func (c *Controller) dropDNSTable(networkID string) {
	c.mu.Lock()
	delete(c.tables, networkID)
	c.mu.Unlock()
}

// joinDNS puts a container's names in the table of each of its
// user-defined networks and starts its resolver, answering from those
// tables in join order; a running container's resolver gets the tables of
// its networks now.
func (c *Controller) joinDNS(sb *sandbox, eps []netimpl.Endpoint) error {
	var tables []dns.Table
	for _, ep := range eps {
		n, err := c.eng.Network(ep.NetworkID)
		if err != nil || !embeddedDNS(n) || ep.Addr == nil {
			continue
		}
		a, _ := netip.AddrFromSlice(ep.Addr.IP.To4())
		t := c.dnsTable(n.ID)
		if err := t.Set(sb.req.ContainerID, dns.EndpointRecords(n.Name, sb.req.Name, ep.Aliases, a)...); err != nil {
			return fmt.Errorf("container %s: network %s: dns: %w", sb.req.Name, n.Name, err)
		}
		tables = append(tables, t)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if sb.chain != nil {
		// A connect or disconnect of a running container.
		sb.chain.Set(tables...)
		return nil
	}
	if len(tables) == 0 {
		return nil
	}
	ch, srv, err := c.startResolver(sb, tables)
	if err != nil {
		return err
	}
	sb.chain, sb.resolver = ch, srv
	return nil
}

// startResolver starts a container's resolver, answering from tables.
// It listens in the container's namespace, at its key.
func (c *Controller) startResolver(sb *sandbox, tables []dns.Table) (*dns.Chain, *dns.Server, error) {
	ch := dns.NewChain(tables...)
	srv, err := dns.Start(sb.Key, ch, c.upstreams(sb.req), dns.Options{NdotsSet: hasNdots(sb.req.DNSOptions)})
	if err != nil {
		return nil, nil, fmt.Errorf("container %s: embedded dns: %w", sb.req.Name, err)
	}
	return ch, srv, nil
}

// resolveEarly starts the resolver of a starting container that will be
// on a user-defined network before its endpoints are made (its tables
// follow in joinDNS): the namespace's loopback, where it listens, is up
// from the start, and the kernel's work on the endpoints' links overlaps
// the resolver's sockets and goroutines. The returned wait reports its
// error, once the resolver is the sandbox's for servicesDown to close.
func (c *Controller) resolveEarly(sb *sandbox) (wait func() error) {
	if !c.usesEmbeddedDNS(sb.req) {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	go func() {
		ch, srv, err := c.startResolver(sb, nil)
		if err == nil {
			c.mu.Lock()
			sb.chain, sb.resolver = ch, srv
			c.mu.Unlock()
		}
		done <- err
	}()
	return func() error { return <-done }
}

// refreshDNS follows a connect or disconnect of a running container: its
// names on each network, and the tables its resolver asks. A container
// that had no resolver and joins its first user-defined network gets one.
func (c *Controller) refreshDNS(sb *sandbox) {
	c.mu.Lock()
	for _, t := range c.tables {
		t.Delete(sb.req.ContainerID)
	}
	c.mu.Unlock()
	if err := c.joinDNS(sb, c.eng.SandboxEndpoints(sb.ID)); err != nil {
		c.log.Printf("container %s: %v", sb.req.Name, err)
	}
}

// publishPorts gives a running container's external connectivity to its
// gateway endpoint, as libnetwork's sbJoin does after every join and leave
// (ProgramExternalConnectivity on getGatewayEndpoint, after revoking it
// from the endpoint that had it): the bridge driver maps the container's
// published ports there, and nowhere when that network is internal or of
// another driver. So the ports of a container on bridge that joins "aa"
// move to its address on aa, and those of Compose's web (on front and on
// the internal back) are on front. The error reads as dockerd's.
func (c *Controller) publishPorts(sb *sandbox) error {
	ep, ok := c.eng.GatewayEndpoint(sb.ID)
	c.mu.Lock()
	if (ok && ep.ID == sb.external) || (!ok && sb.external == "") {
		c.mu.Unlock()
		return nil
	}
	old := sb.ports
	sb.ports, sb.external = nil, ""
	c.mu.Unlock()
	c.unpublish(old)
	if !ok {
		return nil
	}
	n, err := c.eng.Network(ep.NetworkID)
	if err != nil || n.Driver != bridge.Name || n.Internal {
		return nil
	}
	specs, err := portSpecs(sb.req.Ports)
	if err != nil {
		return err
	}
	made, err := c.publishOn(n, ep, specs)
	if err != nil {
		return netimpl.Errorf(netimpl.KindUnknown, "driver failed programming external connectivity on endpoint %s (%s): %v", sb.req.Name, ep.ID, err)
	}
	c.mu.Lock()
	sb.ports, sb.external = made, ep.ID
	c.mu.Unlock()
	return nil
}

// publishOn maps ports to an endpoint of a bridge network: a reservation
// and its proxy each, and the firewall's DNAT rules. On error nothing of
// it is left.
func (c *Controller) publishOn(n netimpl.Network, ep netimpl.Endpoint, specs []portmap.Spec) ([]publishedPort, error) {
	br, _ := c.bridge.BridgeName(n.ID)
	cip, _ := netip.AddrFromSlice(ep.Addr.IP.To4())
	var made []publishedPort
	for _, s := range withIPv6Twins(specs, !c.cfg.NoUserlandProxy && ipv6Listenable()) {
		s.ContainerIP = cip
		b, err := c.portMapper().Map(s)
		if err == nil && b.HostIP.Is6() {
			// The [::] twin: the proxy only, since dockerd 20.10 writes no
			// ip6tables rules (--ip6tables is off).
			made = append(made, publishedPort{binding: b})
			continue
		}
		if err == nil {
			rule := firewall.Port{Bridge: br, Proto: b.Proto, HostIP: b.HostIP, HostPort: b.HostPort, ContainerIP: b.ContainerIP, ContainerPort: b.ContainerPort}
			if err = c.firewall.AddPort(rule); err == nil {
				made = append(made, publishedPort{binding: b, rule: rule})
				continue
			}
			c.portMapper().Unmap(b)
		}
		c.unpublish(made)
		return nil, err
	}
	return made, nil
}

func (c *Controller) unpublish(ports []publishedPort) {
	for i := len(ports) - 1; i >= 0; i-- {
		p := ports[i]
		if p.rule.Bridge == "" {
			// An IPv6 twin: no rule.
		} else if err := c.firewall.RemovePort(p.rule); err != nil {
			c.log.Printf("unpublish %s: %v", p.binding, err)
		}
		if err := c.portMapper().Unmap(p.binding); err != nil && !errors.Is(err, portmap.ErrPortNotMapped) {
			c.log.Printf("unpublish %s: %v", p.binding, err)
		}
	}
}

// addLinkRules writes the link ACCEPT pairs when the default bridge has
// enable_icc=false (without them the containers could not talk at all).
func (c *Controller) addLinkRules(sb *sandbox, eps []netimpl.Endpoint) error {
	if len(sb.req.Links) == 0 {
		return nil
	}
	n, err := c.eng.Network("bridge")
	if err != nil || n.Options[bridge.OptICC] != "false" {
		return nil
	}
	var from netip.Addr
	for _, ep := range eps {
		if ep.NetworkID == n.ID && ep.Addr != nil {
			from, _ = netip.AddrFromSlice(ep.Addr.IP.To4())
		}
	}
	if !from.IsValid() {
		return nil
	}
	br, _ := c.bridge.BridgeName(n.ID)
	var made []firewall.Link
	for _, l := range sb.req.Links {
		if len(l.Ports) == 0 || !l.IP.IsValid() {
			continue
		}
		r := firewall.Link{Bridge: br, From: from, To: l.IP}
		for _, p := range l.Ports {
			r.Ports = append(r.Ports, firewall.PortProto{Proto: p.Proto, Port: p.Port})
		}
		if err := c.firewall.AddLink(r); err != nil {
			for _, m := range made {
				c.firewall.RemoveLink(m)
			}
			return fmt.Errorf("container %s: link rules: %w", sb.req.Name, err)
		}
		made = append(made, r)
	}
	c.mu.Lock()
	sb.links = made
	c.mu.Unlock()
	return nil
}

// removeLinkRules drops the rules addLinkRules wrote.
func (c *Controller) removeLinkRules(sb *sandbox) {
	c.mu.Lock()
	rules := sb.links
	sb.links = nil
	c.mu.Unlock()
	for _, r := range rules {
		if err := c.firewall.RemoveLink(r); err != nil {
			c.log.Printf("container %s: remove link rules: %v", sb.req.Name, err)
		}
	}
}
