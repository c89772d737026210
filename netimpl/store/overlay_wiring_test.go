package store

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/internal/enginetest"
	"github.com/nslab/nslab/netimpl/overlay"
	"github.com/nslab/nslab/netns/kernel"
	"github.com/nslab/nslab/netns/probe"
)

// dockerHost is what hostd will hold for global networks: its store
// client, its engine with the overlay driver, and the watch loop between
// them. Network ids are the store's (hostd creates engine networks with
// the store's id; the engine here picks its own, hence the map).
type dockerHost struct {
	h     *host
	name  string
	store *Etcd
	drv   *overlay.Driver
	e     *netimpl.Engine

	mu   sync.Mutex
	nets map[string]netimpl.Network // store id → engine network
	done chan struct{}
}

func (c *cluster) dockerHost(t *testing.T, h *host, ttl time.Duration) *dockerHost {
	t.Helper()
	d := &dockerHost{h: h, name: h.member, store: c.client(h, ttl), nets: map[string]netimpl.Network{}, done: make(chan struct{})}
	var err error
	d.drv, err = overlay.New(overlay.Config{HostNS: h.ns, NSPrefix: prefix + h.member + "-", Advertise: h.addr})
	if err != nil {
		t.Fatal(err)
	}
	d.e = enginetest.Engine(t, netimpl.Options{HostNS: h.ns}, nil, d.drv)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); <-d.done })
	go d.watch(t, ctx)
	return d
}

// watch is the loop hostd runs: networks of the store become engine
// networks (with the store's subnet and VNI), other hosts' endpoints
// become overlay peers, and go again when the store drops them.
func (d *dockerHost) watch(t *testing.T, ctx context.Context) {
	defer close(d.done)
	for ev := range d.store.Watch(ctx) {
		switch ev.Kind {
		case NetworkAdded:
			// The VNI comes at the first join (run).
			n, err := d.e.CreateNetwork(netimpl.NetworkSpec{
				Name:   ev.Network.Name,
				Driver: overlay.Name,
				IPAM:   netimpl.IPAM{Config: []netimpl.IPAMPool{{Subnet: ev.Network.Subnet.String(), Gateway: ev.Network.Gateway.String()}}},
			})
			if err != nil {
				t.Errorf("%s: network %s from the store: %v", d.name, ev.Network.Name, err)
				continue
			}
			d.mu.Lock()
			d.nets[ev.Network.ID] = n
			d.mu.Unlock()
		case EndpointAdded, EndpointDeleted:
			if ev.Endpoint.VTEP == d.h.addr {
				continue // our own: the driver has it already
			}
			n, ok := d.network(ev.Endpoint.NetworkID)
			if !ok {
				t.Errorf("%s: endpoint %s of an unknown network", d.name, ev.Endpoint.Name)
				continue
			}
			p := overlay.Peer{IP: ev.Endpoint.Addr.Addr(), MAC: ev.Endpoint.MAC, VTEP: ev.Endpoint.VTEP}
			var err error
			if ev.Kind == EndpointAdded {
				err = d.drv.AddPeer(n.ID, p)
			} else {
				err = d.drv.RemovePeer(n.ID, p)
			}
			if err != nil {
				t.Errorf("%s: %v %s: %v", d.name, ev.Kind, ev.Endpoint.Name, err)
			}
		}
	}
}

func (d *dockerHost) network(storeID string) (netimpl.Network, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.nets[storeID]
	return n, ok
}

// waitNetwork waits until the watch made the store's network here.
func (d *dockerHost) waitNetwork(t *testing.T, storeID string) netimpl.Network {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if n, ok := d.network(storeID); ok {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: network %s not made from the store in 5s", d.name, storeID)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// run starts a container on a global network as hostd will: VNI and
// address from the store, join in the engine, endpoint published.
func (d *dockerHost) run(t *testing.T, name string, n Network) (netimpl.Sandbox, netip.Addr) {
	t.Helper()
	ctx := context.Background()
	en := d.waitNetwork(t, n.ID)
	vni, err := d.store.EnsureVNI(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.drv.SetVNI(en.ID, vni); err != nil {
		t.Fatal(err)
	}
	p, err := d.store.AllocateAddress(ctx, n.ID, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := d.e.NewSandbox(netimpl.SandboxSpec{ContainerID: name, PinName: prefix + name})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := d.e.Join(sb.ID, en.ID, netimpl.EndpointSpec{Name: name, IPv4: p.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.store.PutEndpoint(ctx, Endpoint{ID: ep.ID, Name: name, NetworkID: n.ID, Addr: p, MAC: ep.MAC}); err != nil {
		t.Fatal(err)
	}
	return sb, p.Addr()
}

// [E21, E23] The store and the overlay driver composed as hostd will: a
// network created on node1 appears on node2; containers on both ping each
// other once their endpoints went through etcd; node1 dies, and, as on
// Docker, node2 keeps its entries for node1's container: a dead host's
// endpoints stay in the store.
func TestOverlayThroughStore(t *testing.T) {
	c := newCluster(t)
	const ttl = 2 * time.Second
	d1, d2 := c.dockerHost(t, c.hosts[0], ttl), c.dockerHost(t, c.hosts[1], ttl)
	ctx := context.Background()
	n, err := d1.store.CreateNetwork(ctx, Network{ID: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", Name: "ov_net1"})
	if err != nil {
		t.Fatal(err)
	}
	sb1, ip1 := d1.run(t, "c1", n)
	start := time.Now()
	sb2, ip2 := d2.run(t, "c2", n)
	if _, err := probe.Ping(ctx, sb1.Key, ip2, probe.Opts{Interval: 5 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	t.Logf("c2 started on node2 (VNI and address from etcd, endpoint published): c1 on node1 got its first reply %v later",
		time.Since(start).Round(time.Millisecond))
	if err := probe.ExpectReachable(ctx, sb2.Key, ip1); err != nil {
		t.Fatal(err)
	}

	// node1's hostd dies: its store client stops, withdrawing nothing.
	d1.store.abandon()
	ns2, ok := d2.drv.Namespace(d2.waitNetwork(t, n.ID).ID)
	if !ok {
		t.Fatal("node2 has no overlay namespace")
	}
	time.Sleep(2 * ttl)
	if !hasFDB(t, ns2, "192.168.8.150") {
		t.Fatalf("node2 dropped dead node1's FDB entry; Docker keeps a dead node's endpoints")
	}
	// Its container still runs (its namespace is the test's), and is
	// still reachable from node2.
	if err := probe.ExpectReachable(ctx, sb2.Key, ip1); err != nil {
		t.Fatal(err)
	}
}

// hasFDB says whether vxlan0 in ns has a static entry towards vtep.
func hasFDB(t *testing.T, ns, vtep string) bool {
	t.Helper()
	list, err := kernel.Neighbours(ns, overlay.VXLANName, unix.AF_BRIDGE)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(list, func(n kernel.Neighbour) bool { return n.Self && n.IP == vtep })
}
