package bridge_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/bridge"
	"github.com/nslab/nslab/netimpl/firewall"
	"github.com/nslab/nslab/netimpl/host"
	"github.com/nslab/nslab/netimpl/internal/enginetest"
	"github.com/nslab/nslab/netimpl/null"
	"github.com/nslab/nslab/netns/kernel"
	"github.com/nslab/nslab/netns/nstest"
)

// fakeFirewall records what the driver hands it and can be told to fail.
type fakeFirewall struct {
	mu         sync.Mutex
	nets       map[string]firewall.Network
	failAdd    bool
	failRemove bool
}

func (f *fakeFirewall) AddNetwork(r firewall.Network) error {
	return f.apply(&f.failAdd, func() { f.nets[r.Bridge] = r })
}

func (f *fakeFirewall) RemoveNetwork(r firewall.Network) error {
	return f.apply(&f.failRemove, func() { delete(f.nets, r.Bridge) })
}

// apply makes the change to the firewall's rules unless it is told to
// fail (*fail).
func (f *fakeFirewall) apply(fail *bool, change func()) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *fail {
		return errors.New("iptables: chain DOCKER: no such chain")
	}
	change()
	return nil
}

// vhost is a virtual host: a namespace standing in for the host's own,
// with an engine whose bridge driver works in it.
type vhost struct {
	t   testing.TB
	ns  string
	e   *netimpl.Engine
	fw  *fakeFirewall
	drv *bridge.Driver
	n   int
}

// newHost makes the namespace and the engine with the predefined networks
// as hostd makes them; defaultBridge is the bridge network's IPAM config.
func newHost(t *testing.T, name string, defaultBridge []netimpl.IPAMPool) *vhost {
	t.Helper()
	return newHostTB(t, name, defaultBridge)
}

// newHostB is newHost for a benchmark.
func newHostB(b *testing.B) *vhost {
	b.Helper()
	return newHostTB(b, "bench", nil)
}

// newHostTB makes the host's namespace, removed when the test ends, after
// the engine is closed and the host is proven to hold nothing but lo.
func newHostTB(t testing.TB, name string, defaultBridge []netimpl.IPAMPool) *vhost {
	t.Helper()
	nstest.NeedRoot(t)
	ns := nstest.NewNS(t, prefix, name)
	h := &vhost{t: t, ns: ns, fw: &fakeFirewall{nets: map[string]firewall.Network{}}}
	var err error
	h.drv, err = bridge.New(bridge.Config{HostNS: ns, Firewall: h.fw})
	if err != nil {
		t.Fatal(err)
	}
	h.e = enginetest.Engine(t, netimpl.Options{
		Seed:   "lab/" + name,
		HostNS: ns,
		Predefined: []netimpl.NetworkSpec{
			{Name: "bridge", Driver: "bridge", Options: bridge.DefaultNetworkOptions(), IPAM: netimpl.IPAM{Config: defaultBridge}},
			{Name: "host", Driver: "host"},
			{Name: "none", Driver: "null"},
		},
	}, func() {
		if links := h.linkNames(); len(links) != 1 {
			t.Errorf("after close the host still has %v", links)
		}
	}, h.drv, null.New(), host.New())
	return h
}

// linkNames lists the host namespace's links, sorted.
func (h *vhost) linkNames() []string { h.t.Helper(); return nstest.LinkNames(h.t, h.ns) }

// defaultRoute returns "via <gw> dev <name>" of the namespace's default
// route, or "" when it has none.
func defaultRoute(t *testing.T, ns string) string {
	t.Helper()
	isDefault := func(r kernel.Route) bool { return r.Dst == "default" }
	return strings.Join(nstest.Gateways(t, ns, isDefault), "; ")
}

// sandbox makes a container's namespace.
func (h *vhost) sandbox(name string) netimpl.Sandbox {
	h.t.Helper()
	h.n++
	sb, err := h.e.NewSandbox(netimpl.SandboxSpec{ContainerID: fmt.Sprintf("%s-%d", name, h.n), PinName: prefix + name})
	if err != nil {
		h.t.Fatal(err)
	}
	return sb
}

func (h *vhost) join(sb netimpl.Sandbox, network, name string) netimpl.Endpoint {
	h.t.Helper()
	ep, err := h.e.Join(sb.ID, network, netimpl.EndpointSpec{Name: name})
	if err != nil {
		h.t.Fatal(err)
	}
	return ep
}

func (h *vhost) create(spec netimpl.NetworkSpec) netimpl.Network {
	h.t.Helper()
	n, err := h.e.CreateNetwork(spec)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// wantErr checks an engine error's kind and exact message.
func wantErr(t *testing.T, err error, kind netimpl.Kind, msg string) {
	t.Helper()
	enginetest.WantErr(t, err, kind, msg)
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }
