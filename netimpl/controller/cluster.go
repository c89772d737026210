package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nslab/nslab/hostdconfig"
	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/bridge"
	"github.com/nslab/nslab/netimpl/dns"
	"github.com/nslab/nslab/netimpl/ipam"
	"github.com/nslab/nslab/netimpl/overlay"
	"github.com/nslab/nslab/netimpl/store"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/undo"
)

// msgNoClusterStore is Docker 20.10's answer (503) to an overlay network
// asked of a daemon with neither a swarm nor a cluster store.
const msgNoClusterStore = `This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`

// cluster is what dockerd's --cluster-store and --cluster-advertise give a
// host: a client of the lab's etcd members, the overlay driver, and the
// watch that turns the store's networks into this host's engine networks
// (with the store's id and subnet; the VNI comes at the first join) and
// other hosts' endpoints into overlay peers and names of the embedded DNS.
type cluster struct {
	store  *store.Etcd
	driver *overlay.Driver
	vtep   netip.Addr
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.Mutex
	// own are the endpoints this host published, by container id.
	own map[string][]ownEndpoint
	// peers are the other hosts' endpoints programmed here, by id.
	peers map[string]store.Endpoint
	// gw serialises the making of docker_gwbridge.
	gw sync.Mutex
}

type ownEndpoint struct {
	networkID, endpointID string
	addr                  netip.Addr
}

// clusterStoreOpTimeout bounds one store operation: with the quorum gone a
// create fails within it, with ErrUnavailable's text.
const clusterStoreOpTimeout = 3 * time.Second

// clusterStoreSync is how often the store client learns the members'
// addresses: --cluster-store names one member, and with it down the
// others still serve, as they do Docker's client.
const clusterStoreSync = 2 * time.Second

// parseClusterStore reads --cluster-store: etcd://HOST:PORT[,HOST:PORT...]
// into the members' client URLs.
func parseClusterStore(s string) ([]string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "etcd" || u.Host == "" {
		return nil, fmt.Errorf("cluster store %q: want etcd://IP:2379", s)
	}
	var eps []string
	for _, h := range strings.Split(u.Host, ",") {
		if _, _, err := netSplitHostPort(h); err != nil {
			return nil, fmt.Errorf("cluster store %q: %s: %v", s, h, err)
		}
		eps = append(eps, "http://"+h)
	}
	return eps, nil
}

func netSplitHostPort(h string) (netip.Addr, uint16, error) {
	ap, err := netip.ParseAddrPort(h)
	if err != nil {
		return netip.Addr{}, 0, errors.New("want IP:PORT")
	}
	return ap.Addr(), ap.Port(), nil
}

// parseAdvertise reads --cluster-advertise: IP:PORT (an interface name, as
// dockerd also takes, is not supported).
func parseAdvertise(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil || !ap.Addr().Is4() {
		return netip.AddrPort{}, fmt.Errorf("cluster advertise %q: want IPv4:PORT such as 192.168.8.150:2375", s)
	}
	return ap, nil
}

// newCluster makes the overlay driver and opens the store client; the watch
// starts once the engine exists (watch). It needs no quorum. pins is
// where the overlay networks' /run/netns pins go.
func newCluster(cfg hostdconfig.Config, pins *netns.Pins) (*cluster, error) {
	eps, err := parseClusterStore(cfg.ClusterStore)
	if err != nil {
		return nil, err
	}
	adv, err := parseAdvertise(cfg.ClusterAdvertise)
	if err != nil {
		return nil, err
	}
	drv, err := overlay.New(overlay.Config{HostNS: hostNS, NSPrefix: cfg.NetNSPrefix, Pins: pins, SandboxDir: sandboxDir(cfg), Advertise: adv.Addr()})
	if err != nil {
		return nil, err
	}
	st, err := store.OpenEtcd(store.EtcdConfig{
		Endpoints: eps,
		Host:      store.Host{Name: cfg.Host, Advertise: adv},
		OpTimeout: clusterStoreOpTimeout,
		AutoSync:  clusterStoreSync,
	})
	if err != nil {
		drv.Close()
		return nil, err
	}
	return &cluster{store: st, driver: drv, vtep: adv.Addr(), own: map[string][]ownEndpoint{}, peers: map[string]store.Endpoint{}}, nil
}

// watch runs the store's watch, giving each change to apply.
func (cl *cluster) watch(apply func(store.Event)) {
	ctx, cancel := context.WithCancel(context.Background())
	cl.cancel, cl.done = cancel, make(chan struct{})
	go func() {
		defer close(cl.done)
		for ev := range cl.store.Watch(ctx) {
			apply(ev)
		}
	}()
}

// stopWatch stops the watch and waits for its last change to be applied.
func (cl *cluster) stopWatch() {
	if cl.cancel != nil {
		cl.cancel()
		<-cl.done
		cl.cancel = nil
	}
}

// close stops the watch, withdraws this host's endpoints and closes the
// client and the driver. The engine has removed the networks before.
func (cl *cluster) close() error {
	cl.stopWatch()
	err := cl.store.Close()
	return errors.Join(err, cl.driver.Close())
}

// clusterEvent applies one change of the store to this host.
func (c *Controller) clusterEvent(ev store.Event) {
	switch ev.Kind {
	case store.NetworkAdded:
		if _, err := c.ensureGlobal(ev.Network); err != nil {
			c.log.Printf("cluster store: network %s: %v", ev.Network.Name, err)
		}
	case store.NetworkDeleted:
		if _, err := c.eng.Network(ev.Network.ID); err != nil {
			return
		}
		if err := c.eng.DeleteNetwork(ev.Network.ID); err != nil {
			c.log.Printf("cluster store: network %s went: %v", ev.Network.Name, err)
			return
		}
		c.dropDNSTable(ev.Network.ID)
	case store.EndpointAdded:
		if ev.Endpoint.VTEP != c.cluster.vtep {
			c.addPeer(ev.Endpoint)
		}
	case store.EndpointDeleted:
		if ev.Endpoint.VTEP != c.cluster.vtep {
			c.removePeer(ev.Endpoint)
		}
	}
}

// addPeer programs another host's endpoint on an overlay network here, and
// puts its name in the network's DNS table. This host's own endpoints are
// the driver's and the DNS's already.
func (c *Controller) addPeer(ep store.Endpoint) {
	cl := c.cluster
	n, err := c.eng.Network(ep.NetworkID)
	if err != nil {
		c.log.Printf("cluster store: endpoint %s on %s: %v", ep.Name, ep.VTEP, err)
		return
	}
	if err := cl.driver.AddPeer(n.ID, peerOf(ep)); err != nil {
		c.log.Printf("cluster store: %v", err)
		return
	}
	cl.mu.Lock()
	cl.peers[ep.ID] = ep
	cl.mu.Unlock()
	if err := c.dnsTable(n.ID).Set(peerOwner(ep), dns.EndpointRecords(n.Name, ep.Name, nil, ep.Addr.Addr())...); err != nil {
		c.log.Printf("cluster store: endpoint %s: dns: %v", ep.Name, err)
	}
}

// removePeer undoes addPeer.
func (c *Controller) removePeer(ep store.Endpoint) {
	cl := c.cluster
	cl.mu.Lock()
	delete(cl.peers, ep.ID)
	cl.mu.Unlock()
	if err := cl.driver.RemovePeer(ep.NetworkID, peerOf(ep)); err != nil {
		c.log.Printf("cluster store: %v", err)
	}
	c.mu.Lock()
	if t := c.tables[ep.NetworkID]; t != nil {
		t.Delete(peerOwner(ep))
	}
	c.mu.Unlock()
}

// peerOf is another host's endpoint as the overlay driver programs it.
func peerOf(ep store.Endpoint) overlay.Peer {
	return overlay.Peer{IP: ep.Addr.Addr(), MAC: ep.MAC, VTEP: ep.VTEP}
}

// peerOwner owns another host's endpoint's names in a DNS table.
func peerOwner(ep store.Endpoint) string { return "peer:" + ep.ID }

// remoteEndpoints lists the other hosts' endpoints on a network, sorted by
// name.
func (c *Controller) remoteEndpoints(networkID string) []store.Endpoint {
	cl := c.cluster
	if cl == nil {
		return nil
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	var out []store.Endpoint
	for _, ep := range cl.peers {
		if ep.NetworkID == networkID {
			out = append(out, ep)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// globalSpec is the engine network of a store network: its id, subnet
// and VNI if it has one yet (else the first join gives it), and the IPAM
// configuration as Docker shows it (the user's subnet, range and gateway,
// or what IPAM gave).
func globalSpec(n store.Network) netimpl.NetworkSpec {
	opts := map[string]string{}
	for k, v := range n.Options {
		opts[k] = v
	}
	if n.VNI != 0 {
		opts[overlay.OptVXLANIDList] = strconv.FormatUint(uint64(n.VNI), 10)
	}
	pool := netimpl.IPAMPool{Subnet: n.Subnet.String()}
	if !n.UserSubnet || n.Gateway != ipam.FirstHost(n.Subnet) {
		pool.Gateway = n.Gateway.String()
	}
	if n.IPRange.IsValid() {
		pool.IPRange = n.IPRange.String()
	}
	return netimpl.NetworkSpec{
		Name:       n.Name,
		Driver:     n.Driver,
		IPAM:       netimpl.IPAM{Config: []netimpl.IPAMPool{pool}},
		Options:    opts,
		Labels:     n.Labels,
		Internal:   n.Internal,
		Attachable: n.Attachable,
	}
}

// ensureGlobal makes a store network in the engine, with the store's id,
// unless it is there already.
func (c *Controller) ensureGlobal(n store.Network) (netimpl.Network, error) {
	if en, err := c.eng.Network(n.ID); err == nil && en.ID == n.ID {
		return en, nil
	}
	en, err := c.eng.CreateNetworkID(n.ID, globalSpec(n))
	if netimpl.KindOf(err) == netimpl.KindConflict {
		// Made meanwhile by the create on this host (or its watch).
		if en, lerr := c.eng.Network(n.ID); lerr == nil && en.ID == n.ID {
			return en, nil
		}
	}
	return en, err
}

// listEndpointDirs is what a `docker network inspect` does to the cluster
// store on dockerd 20.10: its libnetwork lists the endpoints of every
// network of the host, which makes each network's endpoint directory.
func (c *Controller) listEndpointDirs() {
	cl := c.cluster
	if cl == nil {
		return
	}
	var ids []string
	for _, n := range c.eng.Networks() {
		ids = append(ids, n.ID)
	}
	if err := cl.store.EnsureEndpointDirs(context.Background(), ids...); err != nil {
		c.log.Printf("network inspect: %v", err)
	}
}

// storeError is a store failure as the API answers it: unavailable is 503
// with the store's text, the rest keep their kind.
func storeError(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return netimpl.Errorf(netimpl.KindUnavailable, "%s", err.Error())
	}
	return err
}

// createGlobal is `network create -d overlay`: the network goes through
// the store (its /24 and its keys, in libnetwork's order), then into this
// host's engine; the other hosts make it from their watch.
func (c *Controller) createGlobal(spec netimpl.NetworkSpec) (netimpl.Network, error) {
	cl := c.cluster
	if cl == nil {
		return netimpl.Network{}, netimpl.Errorf(netimpl.KindUnavailable, msgNoClusterStore)
	}
	sn, err := c.storeNetwork(spec)
	if err != nil {
		return netimpl.Network{}, err
	}
	n, err := cl.store.CreateNetwork(context.Background(), sn)
	if err != nil {
		return netimpl.Network{}, storeError(err)
	}
	en, err := c.ensureGlobal(n)
	if err != nil {
		// Nothing of it may stay in the store either.
		if derr := cl.store.DeleteNetwork(context.Background(), n.ID); derr != nil {
			c.log.Printf("network %s: undo in the cluster store: %v", n.Name, derr)
		}
		return netimpl.Network{}, err
	}
	return en, nil
}

// storeNetwork checks a create of an overlay network completely, with
// Docker's messages, and makes the store's request of it.
func (c *Controller) storeNetwork(spec netimpl.NetworkSpec) (store.Network, error) {
	if err := c.eng.CheckName(spec.Name); err != nil {
		return store.Network{}, err
	}
	if err := netimpl.CheckIPAMDriver(spec.IPAM.Driver); err != nil {
		return store.Network{}, err
	}
	if spec.EnableIPv6 {
		return store.Network{}, netimpl.Errorf(netimpl.KindInvalid, "overlay network %s: IPv6 is not supported", spec.Name)
	}
	sn := store.Network{
		ID: netimpl.NewID(), Name: spec.Name, Driver: overlay.Name,
		Options: spec.Options, Labels: spec.Labels, Internal: spec.Internal, Attachable: spec.Attachable,
	}
	switch len(spec.IPAM.Config) {
	case 0:
		return sn, nil
	case 1:
		return sn, parseStorePool(spec.IPAM.Config[0], &sn)
	}
	return sn, netimpl.Errorf(netimpl.KindForbidden, "overlay network %s: one subnet per network is supported", spec.Name)
}

// parseStorePool reads an overlay network's --subnet, --gateway and
// --ip-range into its store request.
func parseStorePool(c netimpl.IPAMPool, sn *store.Network) error {
	var err error
	if c.Subnet != "" {
		if sn.Subnet, err = netip.ParsePrefix(c.Subnet); err != nil {
			return netimpl.Errorf(netimpl.KindUnknown, "Invalid subnet %s : invalid CIDR address: %s", c.Subnet, c.Subnet)
		}
	}
	if c.Gateway != "" {
		if sn.Gateway, err = netip.ParseAddr(c.Gateway); err != nil {
			return netimpl.Errorf(netimpl.KindUnknown, "invalid gateway address %s in Ipam configuration", c.Gateway)
		}
	}
	if c.IPRange != "" {
		if sn.IPRange, err = netip.ParsePrefix(c.IPRange); err != nil {
			return netimpl.Errorf(netimpl.KindUnknown, "failed to parse pool request for address space %q pool %q subpool %q: Invalid Address SubPool", "GlobalDefault", c.Subnet, c.IPRange)
		}
	}
	return nil
}

// deleteGlobal is `network rm` of a global network: refused while this
// host has endpoints on it, then removed from the store (which refuses
// while any host has) and from this host's engine; the other hosts follow
// their watch.
func (c *Controller) deleteGlobal(n netimpl.Network) error {
	if len(c.eng.Endpoints(n.ID)) > 0 {
		return netimpl.Errorf(netimpl.KindForbidden, "error while removing network: network %s id %s has active endpoints", n.Name, n.ID)
	}
	if err := c.cluster.store.DeleteNetwork(context.Background(), n.ID); err != nil && netimpl.KindOf(err) != netimpl.KindNotFound {
		return storeError(err)
	}
	if err := c.eng.DeleteNetwork(n.ID); err != nil && netimpl.KindOf(err) != netimpl.KindNotFound {
		return err
	}
	return nil
}

// joinEndpoint joins a container's sandbox to a network. On a global
// network the address comes from the store, the endpoint is published
// there, and a container without another way out gets docker_gwbridge next
// (eth1, its default route). Anything that fails is undone.
func (c *Controller) joinEndpoint(sb *sandbox, network string, spec netimpl.EndpointSpec) (netimpl.Endpoint, error) {
	n, err := c.eng.Network(network)
	if err != nil {
		return netimpl.Endpoint{}, err
	}
	if c.cluster != nil {
		// As dockerd's libnetwork, which lists the network's endpoints in
		// the cluster store when one of its own joins, local or global.
		if err := c.cluster.store.EnsureEndpointDirs(context.Background(), n.ID); err != nil {
			c.log.Printf("container %s: network %s: %v", sb.req.Name, n.Name, err)
		}
	}
	if n.Scope != netimpl.ScopeGlobal || c.cluster == nil {
		return c.eng.Join(sb.ID, n.ID, spec)
	}
	if err := n.CheckIPv4(spec.IPv4); err != nil {
		return netimpl.Endpoint{}, err
	}
	ep, err := c.joinGlobal(sb, n, spec)
	if err != nil || n.Internal {
		// An internal network has no way out, and needs none.
		return ep, err
	}
	if err := c.joinGateway(sb); err != nil {
		if lerr := c.eng.Leave(sb.ID, n.ID); lerr != nil {
			c.log.Printf("container %s: undo join of %s: %v", sb.req.Name, n.Name, lerr)
		}
		c.withdraw(sb.req.ContainerID, n.ID)
		return netimpl.Endpoint{}, err
	}
	return ep, nil
}

// joinGlobal joins a global network with an address of the store's, and
// publishes the endpoint in the store. The network's first join on any
// host takes its VXLAN id.
func (c *Controller) joinGlobal(sb *sandbox, n netimpl.Network, spec netimpl.EndpointSpec) (_ netimpl.Endpoint, err error) {
	cl, ctx, name := c.cluster, context.Background(), sb.req.Name
	vni, err := cl.store.EnsureVNI(ctx, n.ID)
	if err != nil {
		return netimpl.Endpoint{}, storeError(err)
	}
	if err := cl.driver.SetVNI(n.ID, vni); err != nil {
		return netimpl.Endpoint{}, err
	}
	p, err := cl.store.AllocateAddress(ctx, n.ID, spec.IPv4)
	if err != nil {
		return netimpl.Endpoint{}, storeError(err)
	}
	var u undo.Steps
	defer u.OnError(&err)
	u.Add(func() {
		if err := cl.store.ReleaseAddress(ctx, n.ID, p.Addr()); err != nil {
			c.log.Printf("container %s: release %s on %s: %v", name, p.Addr(), n.Name, err)
		}
	})
	spec.IPv4, spec.Assigned = p.Addr(), true
	ep, err := c.eng.Join(sb.ID, n.ID, spec)
	if err != nil {
		return netimpl.Endpoint{}, err
	}
	u.Add(func() {
		if lerr := c.eng.Leave(sb.ID, n.ID); lerr != nil {
			c.log.Printf("container %s: undo join of %s: %v", name, n.Name, lerr)
		}
	})
	if err := cl.store.PutEndpoint(ctx, store.Endpoint{ID: ep.ID, Name: name, NetworkID: n.ID, Addr: p, MAC: ep.MAC,
		Sandbox: sb.ID, Aliases: ep.Aliases, SrcName: ep.SrcName}); err != nil {
		return netimpl.Endpoint{}, storeError(err)
	}
	cl.mu.Lock()
	cl.own[sb.req.ContainerID] = append(cl.own[sb.req.ContainerID], ownEndpoint{networkID: n.ID, endpointID: ep.ID, addr: p.Addr()})
	cl.mu.Unlock()
	return ep, nil
}

// republish puts a container's endpoints on global networks into the
// store again, under its name now.
func (c *Controller) republish(sb *sandbox) error {
	cl := c.cluster
	if cl == nil {
		return nil
	}
	cl.mu.Lock()
	own := slices.Clone(cl.own[sb.req.ContainerID])
	cl.mu.Unlock()
	if len(own) == 0 {
		return nil
	}
	eps := map[string]netimpl.Endpoint{}
	for _, ep := range c.eng.SandboxEndpoints(sb.ID) {
		eps[ep.ID] = ep
	}
	for _, o := range own {
		ep, ok := eps[o.endpointID]
		if !ok || ep.Addr == nil {
			continue
		}
		ones, _ := ep.Addr.Mask.Size()
		p := netip.PrefixFrom(o.addr, ones)
		if err := cl.store.PutEndpoint(context.Background(), store.Endpoint{ID: ep.ID, Name: sb.req.Name, NetworkID: o.networkID, Addr: p, MAC: ep.MAC}); err != nil {
			return storeError(err)
		}
	}
	return nil
}

// withdraw takes a container's endpoints off the store (networkID "":
// all of them) and frees their addresses.
func (c *Controller) withdraw(containerID, networkID string) {
	cl := c.cluster
	if cl == nil {
		return
	}
	gone := cl.forget(containerID, networkID)
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	if closing {
		// The store's Close withdraws them all, within one operation's
		// time (with the store away they stay, as a dead host's do).
		return
	}
	ctx := context.Background()
	for _, o := range gone {
		if err := cl.store.DeleteEndpoint(ctx, o.networkID, o.endpointID); err != nil {
			c.log.Printf("container %s: withdraw endpoint %s: %v", containerID[:12], o.endpointID[:12], err)
		}
		if err := cl.store.ReleaseAddress(ctx, o.networkID, o.addr); err != nil {
			c.log.Printf("container %s: release %s: %v", containerID[:12], o.addr, err)
		}
	}
}

// forget drops a container's endpoints this host published (networkID "":
// all of them) and returns them.
func (cl *cluster) forget(containerID, networkID string) []ownEndpoint {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	var gone, kept []ownEndpoint
	for _, o := range cl.own[containerID] {
		if networkID == "" || o.networkID == networkID {
			gone = append(gone, o)
		} else {
			kept = append(kept, o)
		}
	}
	if len(kept) == 0 {
		delete(cl.own, containerID)
	} else {
		cl.own[containerID] = kept
	}
	return gone
}

// gatewayBridgeOptions are docker_gwbridge's options as Docker 20.10 sets
// them.
func gatewayBridgeOptions() map[string]string {
	return map[string]string{
		"com.docker.network.bridge.enable_icc":           "false",
		"com.docker.network.bridge.enable_ip_masquerade": "true",
		"com.docker.network.bridge.name":                 netimpl.GatewayNetwork,
	}
}

// joinGateway gives a sandbox whose endpoints provide no default route an
// endpoint on docker_gwbridge, made at first use on the next free local
// pool, as libnetwork's sandbox does for overlay containers. The endpoint
// is named gateway_<sandbox id[:12]>, as Docker names it (the sandbox id
// is inspect's NetworkSettings.SandboxID).
func (c *Controller) joinGateway(sb *sandbox) error {
	for _, ep := range c.eng.SandboxEndpoints(sb.ID) {
		if ep.Gateway != nil {
			return nil
		}
	}
	cl := c.cluster
	cl.gw.Lock()
	n, err := c.eng.Network(netimpl.GatewayNetwork)
	if err != nil {
		n, err = c.eng.CreateNetwork(netimpl.NetworkSpec{Name: netimpl.GatewayNetwork, Driver: bridge.Name, Options: gatewayBridgeOptions()})
	}
	cl.gw.Unlock()
	if err != nil {
		return fmt.Errorf("container %s: %s: %w", sb.req.Name, netimpl.GatewayNetwork, err)
	}
	if err := cl.store.EnsureEndpointDirs(context.Background(), n.ID); err != nil {
		c.log.Printf("container %s: network %s: %v", sb.req.Name, netimpl.GatewayNetwork, err)
	}
	if _, err := c.eng.Join(sb.ID, n.ID, netimpl.EndpointSpec{Name: "gateway_" + sb.ID[:12]}); err != nil {
		return fmt.Errorf("container %s: %s: %w", sb.req.Name, netimpl.GatewayNetwork, err)
	}
	return nil
}

// leaveGateway takes a sandbox off docker_gwbridge once none of its
// endpoints needs it (no global network left).
func (c *Controller) leaveGateway(sandboxID string) error {
	var gw bool
	for _, ep := range c.eng.SandboxEndpoints(sandboxID) {
		n, err := c.eng.Network(ep.NetworkID)
		if err != nil {
			continue
		}
		if n.Scope == netimpl.ScopeGlobal {
			return nil
		}
		gw = gw || n.Name == netimpl.GatewayNetwork
	}
	if !gw {
		return nil
	}
	return c.eng.Leave(sandboxID, netimpl.GatewayNetwork)
}
