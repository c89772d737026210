package controller

import (
	"fmt"
	"maps"
	"net/netip"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/dns"
	"github.com/nslab/nslab/netimpl/firewall"
	"github.com/nslab/nslab/undo"
)

// SandboxRequest is what the network side of a container's start needs to
// know of the container.
type SandboxRequest struct {
	ContainerID string
	// Name is the container's name without Docker's leading slash: the
	// name of its endpoints and in the embedded DNS, and of its
	// namespace's pin (the configuration's NetNSPrefix, then Name).
	Name string
	// Hostname and Domainname name the container in its own /etc/hosts.
	Hostname   string
	Domainname string
	// Host is host mode: the host's own namespace and files.
	Host bool
	// Share is container:NAME mode: the sandbox id of the container whose
	// namespace this one shares. Nothing is joined and no file written:
	// Docker shares the other container's.
	Share string
	// Networks are the networks to join, by name, with what the container
	// asks of each; their interfaces are made in Docker's order (eth0
	// first: joinSpecs).
	Networks map[string]EndpointConfig
	// HostsPath, ResolvConfPath and HostnamePath are where the container's
	// /etc/hosts, resolv.conf and hostname go.
	HostsPath      string
	ResolvConfPath string
	HostnamePath   string
	// DNS, DNSSearch and DNSOptions are --dns, --dns-search and
	// --dns-option; without DNS the host's resolvers serve.
	DNS        []string
	DNSSearch  []string
	DNSOptions []string
	// ExtraHosts are --add-host's "name:ip".
	ExtraHosts []string
	// Links are the container's --link targets, running.
	Links []Link
	Ports PortRequest
}

// Started is a start's network side: the sandbox, made, and the joins of
// the container's networks, which go on while the container's process is
// prepared (the kernel's work on its interfaces overlaps the runtime's).
type Started struct {
	Sandbox netimpl.Sandbox
	done    chan struct{}
	err     error
}

// Wait blocks until the joins are over and returns their error. Once they
// are, the container's /etc/hosts holds its addresses; Docker starts the
// container's command only then.
func (s *Started) Wait() error {
	<-s.done
	return s.err
}

// sandbox is the controller's record of a started container: what it was
// asked, its sandbox, and what was added on top of its endpoints.
type sandbox struct {
	netimpl.Sandbox
	req     SandboxRequest
	started *Started

	// Guarded by Controller.mu.
	resolver *dns.Server
	chain    *dns.Chain
	ports    []publishedPort
	// external is the endpoint that has the container's external
	// connectivity (its published ports), "" when none has.
	external string
	links    []firewall.Link // the link rules written
}

// join is one network a start joins, with its endpoint's spec.
type join struct {
	network string
	spec    netimpl.EndpointSpec
}

// Start makes a starting container's sandbox and its hosts, resolv.conf
// and hostname files, checks its endpoints, and joins its networks in the
// background (Started.Wait); the services of its endpoints follow (ports,
// link rules, embedded DNS). On error nothing is left; a start whose
// later steps fail is undone with Stop, as is the container's exit.
func (c *Controller) Start(req SandboxRequest) (_ *Started, err error) {
	req.Networks = maps.Clone(req.Networks)
	if req.Networks == nil {
		req.Networks = map[string]EndpointConfig{}
	}
	var joins []join
	if req.Share == "" {
		if joins, err = c.joinSpecs(req); err != nil {
			return nil, err
		}
	}
	sb, err := c.eng.NewSandbox(netimpl.SandboxSpec{ContainerID: req.ContainerID, PinName: c.cfg.NetNSPrefix + req.Name, Host: req.Host, Share: req.Share})
	if err != nil {
		return nil, err
	}
	var u undo.Steps
	defer u.OnError(&err)
	u.Add(c.eng.RefillSandboxes)
	u.Add(func() {
		if derr := c.eng.DeleteSandbox(sb.ID); derr != nil {
			c.log.Printf("container %s: undo sandbox: %v", req.Name, derr)
		}
	})
	if req.Share == "" {
		if err := c.writeFiles(req); err != nil {
			return nil, err
		}
	}
	st := &Started{Sandbox: sb, done: make(chan struct{})}
	rec, err := c.record(req, st)
	if err != nil {
		return nil, err
	}
	if req.Share != "" {
		// Another container's namespace: its files and endpoints serve.
		close(st.done)
		return st, nil
	}
	go func() {
		st.err = c.join(rec, joins)
		close(st.done)
		// The pool makes the sandbox's namespace again now, not while
		// the join and the container's own start wanted the CPU.
		c.eng.RefillSandboxes()
	}()
	return st, nil
}

// joinSpecs checks that a start's networks exist and its endpoints'
// configurations, and returns them in the order libnetwork makes their
// interfaces (netimpl.JoinOrder of dockerd's join order).
func (c *Controller) joinSpecs(req SandboxRequest) ([]join, error) {
	var nets []netimpl.Network
	names := map[string]string{} // network id -> the name the container asked for
	for _, name := range joinOrder(req.Networks) {
		n, err := c.eng.Network(name)
		if err != nil {
			return nil, err
		}
		nets = append(nets, n)
		names[n.ID] = name
	}
	var joins []join
	for _, n := range netimpl.JoinOrder(nets) {
		name := names[n.ID]
		spec, err := endpointSpec(req.ContainerID, req.Name, name, req.Networks[name])
		if err != nil {
			return nil, err
		}
		joins = append(joins, join{name, spec})
	}
	return joins, nil
}

// record keeps a started container's sandbox; a container has one at a
// time.
func (c *Controller) record(req SandboxRequest, st *Started) (*sandbox, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.sandboxes[req.ContainerID]; dup {
		return nil, netimpl.Errorf(netimpl.KindConflict, "container %s: its network is started already", req.Name)
	}
	sb := &sandbox{Sandbox: st.Sandbox, req: req, started: st}
	c.sandboxes[req.ContainerID] = sb
	return sb, nil
}

// sandboxOf is the record of a started container, nil if none.
func (c *Controller) sandboxOf(containerID string) *sandbox {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sandboxes[containerID]
}

// join joins a started container to its networks, adds the services of
// its endpoints, and writes its addresses into its /etc/hosts. Its
// resolver starts meanwhile (resolveEarly).
func (c *Controller) join(sb *sandbox, joins []join) error {
	resolving := c.resolveEarly(sb)
	var own []hostsEntry
	for _, j := range joins {
		ep, err := c.joinEndpoint(sb, j.network, j.spec)
		if err != nil {
			resolving()
			return err
		}
		if ep.Addr != nil {
			own = append(own, hostsEntry{IP: ep.Addr.IP.String(), Names: hostNames(sb.req)})
		}
	}
	if err := resolving(); err != nil {
		return err
	}
	if err := c.servicesUp(sb); err != nil {
		return err
	}
	if sb.req.Host {
		return nil
	}
	if err := writeInPlace(sb.req.HostsPath, hostsFile(extraHosts(sb.req), own)); err != nil {
		return fmt.Errorf("container %s: %w", sb.req.Name, err)
	}
	return nil
}

// Stop takes down a container's network side when it stops, and undoes a
// start whose later steps failed (waiting for its joins first): the
// services of its endpoints, its endpoints in the cluster store, its
// sandbox with every endpoint. A container without one is left alone.
func (c *Controller) Stop(containerID string) error {
	sb := c.sandboxOf(containerID)
	if sb == nil {
		return nil
	}
	sb.started.Wait()
	c.servicesDown(sb)
	err := c.eng.DeleteSandbox(sb.ID)
	c.mu.Lock()
	delete(c.sandboxes, containerID)
	c.mu.Unlock()
	return err
}

// Endpoint is one of a container's endpoints, with its network's name.
type Endpoint struct {
	Network string
	netimpl.Endpoint
}

// Endpoints lists a started container's endpoints in join order, as
// inspect shows its networks: docker_gwbridge, which the controller joins
// for an overlay network's way out, is the sandbox's and not one of the
// container's networks unless it asked for it (Docker does not list it).
func (c *Controller) Endpoints(containerID string) []Endpoint {
	sb := c.sandboxOf(containerID)
	if sb == nil {
		return nil
	}
	var out []Endpoint
	for _, ep := range c.eng.SandboxEndpoints(sb.ID) {
		n, err := c.eng.Network(ep.NetworkID)
		if err != nil || (n.Name == netimpl.GatewayNetwork && !c.asked(sb, n.Name)) {
			continue
		}
		out = append(out, Endpoint{Network: n.Name, Endpoint: ep})
	}
	return out
}

// asked says whether a started container asked for a network, at its
// start or by a connect since.
func (c *Controller) asked(sb *sandbox, network string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := sb.req.Networks[network]
	return ok
}

// PublishedPorts lists the ports a running container has published, in
// the order they were made, and says whether one of its endpoints has
// external connectivity: Docker shows a container's ports (exposed and
// published) only then, so one on none, host or only internal networks
// shows none.
func (c *Controller) PublishedPorts(containerID string) ([]PortMapping, bool) {
	sb := c.sandboxOf(containerID)
	if sb == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []PortMapping
	for _, p := range sb.ports {
		b := p.binding
		out = append(out, PortMapping{Proto: b.Proto, ContainerPort: b.ContainerPort, HostIP: b.HostIP, HostPort: b.HostPort})
	}
	return out, sb.external != ""
}

// Link is one --link target of a starting container on the default
// bridge: its line in the container's /etc/hosts (its address, then the
// alias, its hostname and its name) and, when the default bridge has
// inter-container traffic off, the accept rules of its exposed ports.
type Link struct {
	IP    netip.Addr
	Names []string
	Ports []ExposedPort
}

// ExposedPort is one exposed port of a link's target.
type ExposedPort struct {
	Proto string // "tcp" or "udp"
	Port  uint16
}
