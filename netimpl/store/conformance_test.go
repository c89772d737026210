package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/netimpl"
)

// conformance checks the rules every Store keeps, with two clients of one
// store (a and b may be the same client): a network made through one is
// seen through the other; names, subnets, VNIs and addresses are taken
// once, a network's VNI at its first join; a client's next subnet and VNI
// come after the ones it took last, as each Docker daemon picks them;
// deletion frees them; watches report all of it.
func conformance(t *testing.T, a, b Store) {
	ctx := context.Background()
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	events := b.Watch(wctx)
	if ev := next(t, events); ev.Kind != Synced {
		t.Fatalf("a watch of an empty store starts with %v, want synced", ev.Kind)
	}

	n1 := mustCreate(ctx, t, a, Network{ID: "net1aaaaaaaaaaaa", Name: "ov_net1"})
	if got := fmt.Sprintf("%s %s %s %d %v", n1.Driver, n1.Subnet, n1.Gateway, n1.VNI, n1.UserSubnet); got != "overlay 10.0.0.0/24 10.0.0.1 0 false" {
		t.Errorf("first network: %s, want Docker's overlay 10.0.0.0/24 10.0.0.1, no VNI before a join, false", got)
	}
	ev := next(t, events)
	if ev.Kind != NetworkAdded || ev.Network.ID != n1.ID || ev.Network.Subnet != n1.Subnet {
		t.Errorf("watch: %v %+v, want network-added of ov_net1 with its subnet", ev.Kind, ev.Network)
	}
	// The first join takes the VNI; every later one finds it.
	for _, c := range []Store{a, b} {
		if vni, err := c.EnsureVNI(ctx, n1.ID); err != nil || vni != 256 {
			t.Errorf("VNI of ov_net1: %d %v, want 256", vni, err)
		}
	}
	seen, err := b.Network(ctx, n1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if seen.Subnet != n1.Subnet || seen.VNI != 256 || seen.Name != "ov_net1" || !seen.Created.Equal(n1.Created) {
		t.Errorf("the other client sees %+v, want %+v", seen, n1)
	}
	_, err = b.CreateNetwork(ctx, Network{ID: "net1bbbbbbbbbbbb", Name: "ov_net1"})
	wantKind(t, err, netimpl.KindConflict, "network with name ov_net1 already exists")

	n2 := mustCreate(ctx, t, b, Network{ID: "net2aaaaaaaaaaaa", Name: "ov_net2"})
	if vni, err := b.EnsureVNI(ctx, n2.ID); n2.Subnet.String() != "10.0.1.0/24" || vni != 257 || err != nil {
		t.Errorf("second network: %s VNI %d %v, want the next free 10.0.1.0/24 and 257", n2.Subnet, vni, err)
	}
	_, err = a.CreateNetwork(ctx, Network{ID: "net3aaaaaaaaaaaa", Name: "ov_net3", Subnet: netip.MustParsePrefix("10.0.0.0/16")})
	wantKind(t, err, netimpl.KindForbidden, "Pool overlaps with other one on this address space")
	n3 := mustCreate(ctx, t, a, Network{ID: "net3aaaaaaaaaaaa", Name: "ov_net3",
		Subnet: netip.MustParsePrefix("10.5.0.0/16"), Gateway: netip.MustParseAddr("10.5.0.254")})
	if vni, err := a.EnsureVNI(ctx, n3.ID); !n3.UserSubnet || !n3.UserGateway || n3.Gateway.String() != "10.5.0.254" || vni != 258 || err != nil {
		t.Errorf("user subnet: %+v, VNI %d %v", n3, vni, err)
	}
	if list, err := b.Networks(ctx); err != nil || len(list) != 3 || list[0].Name != "ov_net1" || list[2].Name != "ov_net3" {
		t.Errorf("networks: %v %v", list, err)
	}

	// Addresses: lowest free first, never the gateway, each once.
	var got []string
	for _, s := range []Store{a, b, a} {
		p, err := s.AllocateAddress(ctx, n1.ID, netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.String())
	}
	if strings.Join(got, " ") != "10.0.0.2/24 10.0.0.3/24 10.0.0.4/24" {
		t.Errorf("addresses %v, want 10.0.0.2/24 .3 .4", got)
	}
	_, err = b.AllocateAddress(ctx, n1.ID, netip.MustParseAddr("10.0.0.3"))
	wantKind(t, err, netimpl.KindForbidden, "Address already in use")
	_, err = b.AllocateAddress(ctx, n1.ID, netip.MustParseAddr("10.0.0.1"))
	wantKind(t, err, netimpl.KindForbidden, "Address already in use")
	if err := a.ReleaseAddress(ctx, n1.ID, netip.MustParseAddr("10.0.0.3")); err != nil {
		t.Fatal(err)
	}
	if p, err := b.AllocateAddress(ctx, n1.ID, netip.Addr{}); err != nil || p.String() != "10.0.0.3/24" {
		t.Errorf("after releasing .3: %v %v, want 10.0.0.3/24 again", p, err)
	}
	if p, err := a.AllocateAddress(ctx, n3.ID, netip.MustParseAddr("10.5.1.7")); err != nil || p.String() != "10.5.1.7/16" {
		t.Errorf("--ip in a user subnet: %v %v", p, err)
	}

	// Endpoints: published with the owner's host and VTEP.
	mac, _ := net.ParseMAC("02:42:0a:00:00:02")
	ep := Endpoint{ID: "ep1aaaaaaaaaaaaa", Name: "c1", NetworkID: n1.ID, Addr: netip.MustParsePrefix("10.0.0.2/24"), MAC: mac,
		Sandbox: "2bebf0a711f0", Aliases: []string{"c735ff2d28fe"}, SrcName: "veth2906d68"}
	if err := a.PutEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	if err := a.PutEndpoint(ctx, ep); err == nil {
		t.Error("an endpoint published twice")
	}
	if err := a.PutEndpoint(ctx, Endpoint{ID: "ep2", Name: "c2", NetworkID: "nosuchnetwork", Addr: ep.Addr, MAC: mac}); netimpl.KindOf(err) != netimpl.KindNotFound {
		t.Errorf("endpoint on a missing network: %v", err)
	}
	list, err := b.Endpoints(ctx, n1.ID)
	if err != nil || len(list) != 1 || list[0].Addr != ep.Addr || list[0].MAC.String() != "02:42:0a:00:00:02" || !list[0].VTEP.IsValid() || list[0].NetworkID != n1.ID {
		t.Fatalf("endpoints of ov_net1 through the other client: %+v %v", list, err)
	}
	if l := list[0]; l.Sandbox != ep.Sandbox || len(l.Aliases) != 1 || l.Aliases[0] != "c735ff2d28fe" || l.SrcName != ep.SrcName {
		t.Errorf("endpoint c1 read back: %+v", l)
	}
	added := skipTo(t, events, EndpointAdded)
	if added.Endpoint.ID != ep.ID || added.Endpoint.VTEP != list[0].VTEP || added.Endpoint.NetworkID != n1.ID {
		t.Errorf("watch: %+v, want endpoint c1", added.Endpoint)
	}
	if err := b.DeleteNetwork(ctx, n1.ID); netimpl.KindOf(err) != netimpl.KindForbidden || !strings.Contains(err.Error(), "has active endpoints") {
		t.Errorf("delete a network with an endpoint: %v", err)
	}
	if err := a.DeleteEndpoint(ctx, n1.ID, ep.ID); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteEndpoint(ctx, n1.ID, ep.ID); err != nil {
		t.Errorf("withdraw twice: %v", err)
	}
	del := skipTo(t, events, EndpointDeleted)
	if del.Endpoint.ID != ep.ID || del.Endpoint.Addr != ep.Addr || del.Endpoint.MAC.String() != mac.String() {
		t.Errorf("watch: deletion carries %+v, want c1's values", del.Endpoint)
	}

	// Deleting frees the name, the subnets and the VNIs: the client's next
	// ones still come after those it took last (a: 10.0.0.0/24 and VNI
	// 258; the same client as b: 10.0.1.0/24).
	for _, id := range []string{n1.ID, n2.ID, n3.ID} {
		if err := b.DeleteNetwork(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.DeleteNetwork(ctx, n1.ID); netimpl.KindOf(err) != netimpl.KindNotFound {
		t.Errorf("delete again: %v", err)
	}
	if d := skipTo(t, events, NetworkDeleted); d.Network.ID != n1.ID || d.Network.Subnet != n1.Subnet {
		t.Errorf("watch: %+v, want ov_net1 deleted with its subnet", d.Network)
	}
	again := mustCreate(ctx, t, a, Network{ID: "net4aaaaaaaaaaaa", Name: "ov_net1"})
	want := "10.0.1.0/24"
	if a == b {
		want = "10.0.2.0/24"
	}
	if vni, err := a.EnsureVNI(ctx, again.ID); again.Subnet.String() != want || vni != 259 || err != nil {
		t.Errorf("after deleting all: %s VNI %d %v, want %s and 259", again.Subnet, vni, err, want)
	}
	if p, err := a.AllocateAddress(ctx, again.ID, netip.Addr{}); err != nil || p.String() != strings.Replace(want, ".0/", ".2/", 1) {
		t.Errorf("first address of a new network: %v %v", p, err)
	}
	if err := a.DeleteNetwork(ctx, again.ID); err != nil {
		t.Fatal(err)
	}
}

// next returns the next event within 5 s.
func next(t *testing.T, events <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return Event{}
}

// skipTo returns the next event of kind, within 5 s.
func skipTo(t *testing.T, events <-chan Event, kind EventKind) Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("watch closed before a %v event", kind)
			}
			if ev.Kind == kind {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %v event within 5s", kind)
		}
	}
}

// mustCreate creates n in s; a failure ends the test.
func mustCreate(ctx context.Context, t testing.TB, s Store, n Network) Network {
	t.Helper()
	got, err := s.CreateNetwork(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func wantKind(t *testing.T, err error, kind netimpl.Kind, msg string) {
	t.Helper()
	var ne *netimpl.Error
	if !errors.As(err, &ne) || ne.Kind != kind || ne.Msg != msg {
		t.Errorf("want kind %d %q, got %v (kind %d)", kind, msg, err, netimpl.KindOf(err))
	}
}
