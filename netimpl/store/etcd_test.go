package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The Store rules on a real two-member cluster, one client per host.
func TestEtcdConformance(t *testing.T) {
	c := newCluster(t)
	conformance(t, c.client(c.hosts[0], 0), c.client(c.hosts[1], 0))
}

// [E21] A network created on node1 is seen on node2 with its subnet, and
// etcd holds it under Docker's keys.
func TestEtcdNetworkKeys(t *testing.T) {
	c := newCluster(t)
	s1, s2 := c.client(c.hosts[0], 0), c.client(c.hosts[1], 0)
	ctx := context.Background()
	events := s2.Watch(ctx)
	skipTo(t, events, Synced)
	n, err := s1.CreateNetwork(ctx, Network{ID: "5d7a5e1b8f3c0a9e6f2d4b1c8a7e3f9d", Name: "etcd_network"})
	if err != nil {
		t.Fatal(err)
	}
	ev := skipTo(t, events, NetworkAdded)
	if ev.Network.Name != "etcd_network" || ev.Network.Subnet.String() != "10.0.0.0/24" || ev.Network.VNI != 256 {
		t.Errorf("node2's watch: %+v", ev.Network)
	}
	p, err := s1.AllocateAddress(ctx, n.ID, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC("02:42:0a:00:00:02")
	if err := s1.PutEndpoint(ctx, Endpoint{ID: "e1", Name: "c1", NetworkID: n.ID, Addr: p, MAC: mac}); err != nil {
		t.Fatal(err)
	}
	resp, err := c.raw(c.hosts[1]).Get(ctx, "/docker", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	values := map[string]string{}
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
		values[string(kv.Key)] = string(kv.Value)
	}
	want := []string{
		"/docker/network/v1.0/endpoint/" + n.ID + "/e1",
		"/docker/network/v1.0/idm/vxlan-id/256",
		"/docker/network/v1.0/ipam/default/config/GlobalDefault/10.0.0.0/24",
		"/docker/network/v1.0/ipam/default/data/GlobalDefault/10.0.0.0/24/10.0.0.2",
		"/docker/network/v1.0/network/" + n.ID,
		"/docker/network/v1.0/overlay/network/" + n.ID,
		"/docker/nodes/192.168.8.148:2375",
		"/docker/nodes/192.168.8.150:2375",
	}
	if !slices.Equal(keys, want) {
		t.Errorf("keys under /docker:\n%s\nwant\n%s", strings.Join(keys, "\n"), strings.Join(want, "\n"))
	}
	if v := values["/docker/network/v1.0/overlay/network/"+n.ID]; v != `[{"SubnetIP":"10.0.0.0/24","GwIP":"10.0.0.1/24","Vni":256}]` {
		t.Errorf("overlay record %s", v)
	}
	ep := values["/docker/network/v1.0/endpoint/"+n.ID+"/e1"]
	for _, s := range []string{`"locator":"192.168.8.150"`, `"addr":"10.0.0.2/24"`, `"mac":"02:42:0a:00:00:02"`, `"host":"node1"`} {
		if !strings.Contains(ep, s) {
			t.Errorf("endpoint value %s lacks %s", ep, s)
		}
	}
	t.Logf("network value: %s", values["/docker/network/v1.0/network/"+n.ID])
}

// 50 creates and then 50 address allocations at once, half through each
// host's client, never take anything twice and leave no gaps.
func TestEtcdConcurrentAllocations(t *testing.T) {
	c := newCluster(t)
	s1, s2 := c.client(c.hosts[0], 0), c.client(c.hosts[1], 0)
	start := time.Now()
	nets, addrs := allocateConcurrently(t, []Store{s1, s2}, 50)
	t.Logf("50 networks and 50 addresses allocated concurrently from two hosts in %v", time.Since(start).Round(time.Millisecond))
	checkDense(t, nets, addrs, 50)
}

// [E23 host loss] An endpoint of a host that stops renewing its lease
// vanishes from the other host's watch within the TTL, with its values;
// the addresses it took are free again. A host that closes its store
// withdraws its endpoints at once.
func TestEtcdDeadHostEndpointsExpire(t *testing.T) {
	c := newCluster(t)
	const ttl = 2 * time.Second
	s1, s2 := c.client(c.hosts[0], ttl), c.client(c.hosts[1], ttl)
	ctx := context.Background()
	n, err := s2.CreateNetwork(ctx, Network{ID: "netdead000000000", Name: "ov_net1"})
	if err != nil {
		t.Fatal(err)
	}
	events := s2.Watch(ctx)
	skipTo(t, events, Synced)
	p, err := s1.AllocateAddress(ctx, n.ID, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC("02:42:0a:00:00:02")
	ep := Endpoint{ID: "dead1", Name: "c1", NetworkID: n.ID, Addr: p, MAC: mac}
	if err := s1.PutEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	if ev := skipTo(t, events, EndpointAdded); ev.Endpoint.ID != "dead1" || ev.Endpoint.VTEP.String() != "192.168.8.150" {
		t.Fatalf("node2's watch: %+v", ev.Endpoint)
	}
	// Still there after more than a TTL while node1 renews.
	time.Sleep(ttl + 500*time.Millisecond)
	if eps, err := s2.Endpoints(ctx, n.ID); err != nil || len(eps) != 1 {
		t.Fatalf("endpoints of a live host after a TTL: %v %v", eps, err)
	}

	died := time.Now()
	s1.abandon()
	ev := skipTo(t, events, EndpointDeleted)
	gone := time.Since(died)
	if ev.Endpoint.ID != "dead1" || ev.Endpoint.Addr != p || ev.Endpoint.VTEP.String() != "192.168.8.150" {
		t.Errorf("deletion: %+v, want dead1 with its address and VTEP", ev.Endpoint)
	}
	t.Logf("node1 died; its endpoint left node2's watch %v later (lease TTL %v)", gone.Round(time.Millisecond), ttl)
	if gone > ttl+1500*time.Millisecond {
		t.Errorf("endpoint outlived its host by %v, want about the TTL %v", gone, ttl)
	}
	if q, err := s2.AllocateAddress(ctx, n.ID, netip.Addr{}); err != nil || q != p {
		t.Errorf("node1's address after its death: %v %v, want %s free again", q, err, p)
	}

	s3 := c.client(c.hosts[0], ttl)
	q, err := s3.AllocateAddress(ctx, n.ID, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.PutEndpoint(ctx, Endpoint{ID: "graceful", Name: "c3", NetworkID: n.ID, Addr: q, MAC: mac}); err != nil {
		t.Fatal(err)
	}
	skipTo(t, events, EndpointAdded)
	closed := time.Now()
	if err := s3.Close(); err != nil {
		t.Fatal(err)
	}
	if ev := skipTo(t, events, EndpointDeleted); ev.Endpoint.ID != "graceful" {
		t.Errorf("after Close: %+v", ev.Endpoint)
	}
	t.Logf("a closed store's endpoint left the watch %v after Close", time.Since(closed).Round(time.Millisecond))
}

// A host whose lease the cluster lost (here revoked from outside, as an
// expiry during a long cut-off would) gets a new one and writes its
// endpoint again; the watch reports it gone and back.
func TestEtcdLeaseLostRewrites(t *testing.T) {
	c := newCluster(t)
	s1, s2 := c.client(c.hosts[0], 0), c.client(c.hosts[1], 0)
	ctx := context.Background()
	n, err := s1.CreateNetwork(ctx, Network{ID: "netlease00000000", Name: "ov_net1"})
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC("02:42:0a:00:00:02")
	if err := s1.PutEndpoint(ctx, Endpoint{ID: "e1", Name: "c1", NetworkID: n.ID, Addr: netip.MustParsePrefix("10.0.0.2/24"), MAC: mac}); err != nil {
		t.Fatal(err)
	}
	events := s2.Watch(ctx)
	skipTo(t, events, Synced)
	s1.mu.Lock()
	old := s1.lease
	s1.mu.Unlock()
	if _, err := c.raw(c.hosts[1]).Revoke(ctx, clientv3.LeaseID(old)); err != nil {
		t.Fatal(err)
	}
	if ev := skipTo(t, events, EndpointDeleted); ev.Endpoint.ID != "e1" {
		t.Fatalf("after the revoke: %+v", ev.Endpoint)
	}
	start := time.Now()
	if ev := skipTo(t, events, EndpointAdded); ev.Endpoint.ID != "e1" {
		t.Fatalf("after the new lease: %+v", ev.Endpoint)
	}
	t.Logf("endpoint written again under a new lease %v after the old one was revoked", time.Since(start).Round(time.Millisecond))
	// The session announces the lease once its keys are written again.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cur, err := s1.waitLease(wctx)
	if err != nil || cur == old {
		t.Errorf("lease %x (%v) after the revoke of %x", cur, err, old)
	}
}

// [E23] With one of two members down the store has no quorum: creating a
// network fails within a bounded time, saying the store is unavailable;
// existing entries survive, and with the member back everything works
// again and the watch catches up.
func TestEtcdQuorumLoss(t *testing.T) {
	c := newCluster(t)
	s1, s2 := c.client(c.hosts[0], 2*time.Second), c.client(c.hosts[1], 0)
	ctx := context.Background()
	n, err := s1.CreateNetwork(ctx, Network{ID: "netquorum0000000", Name: "ov_net1"})
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC("02:42:0a:00:00:02")
	if err := s1.PutEndpoint(ctx, Endpoint{ID: "e1", Name: "c1", NetworkID: n.ID, Addr: netip.MustParsePrefix("10.0.0.2/24"), MAC: mac}); err != nil {
		t.Fatal(err)
	}
	events := s1.Watch(ctx)
	skipTo(t, events, Synced)

	c.hosts[1].proc.Kill(t)
	killed := time.Now()
	var worst time.Duration
	// Each try is bounded; the first ones meet a leader that has not yet
	// noticed, the later ones a member that knows it has none.
	for range 3 {
		start := time.Now()
		_, err := s1.CreateNetwork(ctx, Network{ID: fmt.Sprintf("netoutage%07d", time.Now().UnixNano()%1e7), Name: "ov_net2"})
		took := time.Since(start)
		worst = max(worst, took)
		if err == nil {
			t.Fatal("network create succeeded with one member of two down")
		}
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "store is unavailable") {
			t.Fatalf("error %q (%T), want one that says the store is unavailable", err, err)
		}
		if took > 3*time.Second {
			t.Errorf("create failed after %v, want within 3s", took)
		}
		t.Logf("%v after the kill: create failed in %v: %v", time.Since(killed).Round(time.Millisecond), took.Round(time.Millisecond), err)
	}
	if _, err := s1.Networks(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("list during the outage: %v", err)
	}
	// More than node1's lease TTL passes: without a leader no lease
	// expires, and none of node1's entries must vanish.
	time.Sleep(time.Second)

	c.start(c.hosts[1], "existing")
	c.hosts[1].proc.WaitReady(t, 20*time.Second)
	back := time.Now()
	var n2 Network
	for {
		n2, err = s1.CreateNetwork(ctx, Network{ID: "netafter00000000", Name: "ov_net3"})
		if err == nil {
			break
		}
		if time.Since(back) > 10*time.Second {
			t.Fatalf("no create 10s after the member came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("member back: creates work again after %v", time.Since(back).Round(time.Millisecond))
	ev := skipTo(t, events, NetworkAdded)
	for ev.Network.ID != n2.ID {
		// A create that timed out during the outage may have been
		// committed after all: its outcome was unknown, not failed.
		t.Logf("watch also reports %s (%s), committed after the outage", ev.Network.Name, ev.Network.ID)
		ev = skipTo(t, events, NetworkAdded)
	}
	// node2's client reconnects to its restarted member on its own.
	eps, err := s2.Endpoints(ctx, n.ID)
	for err != nil && time.Since(back) < 5*time.Second {
		time.Sleep(100 * time.Millisecond)
		eps, err = s2.Endpoints(ctx, n.ID)
	}
	if err != nil || len(eps) != 1 || eps[0].ID != "e1" {
		t.Errorf("node1's endpoint after the outage, through node2: %v %v", eps, err)
	}
	select {
	case ev := <-events:
		if ev.Kind == EndpointDeleted || ev.Kind == NetworkDeleted {
			t.Errorf("the outage made the watch report %v %s%s", ev.Kind, ev.Network.Name, ev.Endpoint.Name)
		}
	default:
	}
}

// The resync after a broken watch reports exactly the difference between
// what was reported and what is there, deletions with their old values.
func TestEtcdResyncDiff(t *testing.T) {
	c := newCluster(t)
	s := c.client(c.hosts[0], 0)
	ctx := context.Background()
	n, err := s.CreateNetwork(ctx, Network{ID: "netresync0000000", Name: "ov_net1"})
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC("02:42:0a:00:00:02")
	live := Endpoint{ID: "live", Name: "c1", NetworkID: n.ID, Addr: netip.MustParsePrefix("10.0.0.2/24"), MAC: mac}
	if err := s.PutEndpoint(ctx, live); err != nil {
		t.Fatal(err)
	}
	// What a watcher had reported before a break: the network, and an
	// endpoint that has gone since.
	stale := live
	stale.ID, stale.Name, stale.Addr, stale.VTEP, stale.Host = "stale", "c9", netip.MustParsePrefix("10.0.0.9/24"), netip.MustParseAddr("192.168.8.148"), "node2"
	nc, _ := decode(networkKey(n.ID), encodeNetwork(n))
	sc, _ := decode(endpointKey(n.ID, stale.ID), encodeEndpoint(stale))
	seen := map[string]cached{networkKey(n.ID): nc, endpointKey(n.ID, stale.ID): sc}
	q := newWatchQueue()
	if _, err := s.resync(ctx, seen, q); err != nil {
		t.Fatal(err)
	}
	q.close()
	var got []string
	for ev := range q.run(ctx) {
		got = append(got, fmt.Sprintf("%v %s%s %s", ev.Kind, ev.Network.Name, ev.Endpoint.Name, ev.Endpoint.Addr))
	}
	want := []string{
		"endpoint-deleted c9 10.0.0.9/24",
		"endpoint-added c1 10.0.0.2/24",
	}
	if !slices.Equal(got, want) {
		t.Errorf("resync events %q, want %q", got, want)
	}
	if len(seen) != 2 {
		t.Errorf("after resync the watcher holds %d entries, want 2", len(seen))
	}
}
