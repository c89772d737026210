package macvlan_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/internal/enginetest"
	"github.com/nslab/nslab/netimpl/macvlan"
	"github.com/nslab/nslab/netimpl/null"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
	"github.com/nslab/nslab/netns/nstest"
	"github.com/nslab/nslab/netns/probe"
)

// vhost is a virtual host: a namespace standing in for the host's own,
// with eth1 into the segment and an engine whose macvlan driver works in
// it.
type vhost struct {
	t   *testing.T
	ns  string
	e   *netimpl.Engine
	drv *macvlan.Driver
	n   int
}

// segment makes two hosts whose eth1 are the two ends of one veth pair,
// the smallest L2 segment: a frame one host sends the other receives.
func segment(t *testing.T, a, b string) (*vhost, *vhost) {
	t.Helper()
	nstest.NeedRoot(t)
	h1, h2 := newHost(t, a), newHost(t, b)
	nstest.Veth(t, h1.ns, "eth1", h2.ns, "eth1")
	for _, h := range []*vhost{h1, h2} {
		if err := netns.SetUp(h.ns, "eth1"); err != nil {
			t.Fatal(err)
		}
	}
	return h1, h2
}

// newHost makes the namespace and the engine; its engine is closed, and
// the host must then hold nothing but what the test made, when the test
// ends.
func newHost(t *testing.T, name string) *vhost {
	t.Helper()
	h := &vhost{t: t, ns: nstest.NewNS(t, prefix, name)}
	var err error
	h.drv, err = macvlan.New(macvlan.Config{HostNS: h.ns})
	if err != nil {
		t.Fatal(err)
	}
	h.e = enginetest.Engine(t, netimpl.Options{
		Seed:       "lab/" + name,
		HostNS:     h.ns,
		Predefined: []netimpl.NetworkSpec{{Name: "none", Driver: null.Name}},
	}, func() {
		for _, l := range h.linkNames() {
			if l != "lo" && l != "eth1" {
				t.Errorf("%s: after close the host still has %s", name, l)
			}
		}
	}, h.drv, null.New())
	return h
}

func (h *vhost) handle() *netlink.Handle { h.t.Helper(); return nstest.Handle(h.t, h.ns) }

// linkNames lists the host namespace's links, sorted.
func (h *vhost) linkNames() []string {
	return nstest.LinkNames(h.t, h.ns)
}

// macvlanNet is `docker network create -d macvlan --subnet S --gateway G
// -o parent=P [-o macvlan_mode=M] NAME`.
func macvlanNet(name, subnet, gateway, parent, mode string) netimpl.NetworkSpec {
	spec := netimpl.NetworkSpec{Name: name, Driver: macvlan.Name, Options: map[string]string{}}
	if parent != "" {
		spec.Options[macvlan.OptParent] = parent
	}
	if mode != "" {
		spec.Options[macvlan.OptMode] = mode
	}
	if subnet != "" {
		spec.IPAM.Config = []netimpl.IPAMPool{{Subnet: subnet, Gateway: gateway}}
	}
	return spec
}

func (h *vhost) create(spec netimpl.NetworkSpec) netimpl.Network {
	h.t.Helper()
	n, err := h.e.CreateNetwork(spec)
	if err != nil {
		h.t.Fatalf("%s: network create %s: %v", h.ns, spec.Name, err)
	}
	return n
}

// run makes a container's sandbox and joins it to network, with --ip ip
// unless it is empty.
func (h *vhost) run(name, network, ip string) (netimpl.Sandbox, netimpl.Endpoint) {
	h.t.Helper()
	sb := h.sandbox(name)
	spec := netimpl.EndpointSpec{Name: name}
	if ip != "" {
		spec.IPv4 = netip.MustParseAddr(ip)
	}
	ep, err := h.e.Join(sb.ID, network, spec)
	if err != nil {
		h.t.Fatalf("%s: join %s to %s: %v", h.ns, name, network, err)
	}
	return sb, ep
}

func (h *vhost) sandbox(name string) netimpl.Sandbox {
	h.t.Helper()
	h.n++
	sb, err := h.e.NewSandbox(netimpl.SandboxSpec{ContainerID: fmt.Sprintf("%s-%d", name, h.n), PinName: prefix + h.name() + "-" + name})
	if err != nil {
		h.t.Fatal(err)
	}
	return sb
}

// name is the host's role in its namespace name.
func (h *vhost) name() string { return h.ns[len(netns.RunDir)+1+len(prefix):] }

// addrs lists the IPv4 addresses of a link of ns as "a.b.c.d/len".
func addrs(t *testing.T, ns string, l netlink.Link) []string {
	t.Helper()
	return nstest.Addrs(t, ns, l)
}

// defaultGateway is the gateway and device of ns's default route.
func defaultGateway(t *testing.T, ns string) string {
	t.Helper()
	return fmt.Sprint(nstest.Gateways(t, ns, func(r kernel.Route) bool { return r.Gw != "" }))
}

// ping requires an echo reply from dst within 5 s.
func ping(t *testing.T, from, dst string) {
	t.Helper()
	if _, err := probe.Ping(context.Background(), from, netip.MustParseAddr(dst), probe.Opts{Timeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
}

// noPing requires dst to stay silent for the whole of 1.5 s.
func noPing(t *testing.T, from, dst string) {
	t.Helper()
	err := probe.ExpectUnreachable(context.Background(), from, netip.MustParseAddr(dst), probe.Opts{Timeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr checks an engine error's kind and exact message.
func wantErr(t *testing.T, err error, kind netimpl.Kind, msg string) {
	t.Helper()
	enginetest.WantErr(t, err, kind, msg)
}

// sameLinks requires the host's links to be exactly want.
func (h *vhost) sameLinks(want ...string) {
	h.t.Helper()
	sort.Strings(want)
	if got := h.linkNames(); !slices.Equal(got, want) {
		h.t.Fatalf("%s has links %v, want %v", h.ns, got, want)
	}
}

func openNS(path string) (*os.File, error) { return os.Open(path) }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
