package bridge_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/bridge"
	"github.com/nslab/nslab/netimpl/firewall"
	"github.com/nslab/nslab/netimpl/host"
	"github.com/nslab/nslab/netimpl/netns"
	"github.com/nslab/nslab/netimpl/null"
)

// prefix marks every namespace these tests make.
var prefix = fmt.Sprintf("nslbr%d-", os.Getpid())

func TestMain(m *testing.M) {
	code := m.Run()
	entries, _ := os.ReadDir(netns.RunDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			fmt.Fprintf(os.Stderr, "left behind: %s\n", netns.Path(e.Name()))
			netns.Delete(e.Name())
			code = 1
		}
	}
	os.Exit(code)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, bridges and veths")
	}
}

// fakeFirewall records what the driver hands it and can be told to fail.
type fakeFirewall struct {
	mu      sync.Mutex
	nets    map[string]firewall.Network
	failAdd bool
}

func (f *fakeFirewall) AddNetwork(r firewall.Network) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAdd {
		return errors.New("iptables: chain DOCKER: no such chain")
	}
	f.nets[r.Bridge] = r
	return nil
}

func (f *fakeFirewall) RemoveNetwork(r firewall.Network) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.nets, r.Bridge)
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
	needRoot(t)
	return newHostTB(t, name, defaultBridge)
}

// newHostB is newHost for a benchmark.
func newHostB(b *testing.B) *vhost {
	if os.Geteuid() != 0 {
		b.Skip("needs root: creates network namespaces, bridges and veths")
	}
	return newHostTB(b, "bench", nil)
}

func newHostTB(t testing.TB, name string, defaultBridge []netimpl.IPAMPool) *vhost {
	t.Helper()
	ns, err := netns.NewNamed(prefix + name)
	if err != nil {
		t.Fatal(err)
	}
	h := &vhost{t: t, ns: ns, fw: &fakeFirewall{nets: map[string]firewall.Network{}}}
	t.Cleanup(func() {
		if h.e != nil {
			if err := h.e.Close(); err != nil {
				t.Errorf("engine close: %v", err)
			}
			if links := h.linkNames(); len(links) != 1 {
				t.Errorf("after close the host still has %v", links)
			}
		}
		if h.drv != nil {
			h.drv.Close()
		}
		netns.Delete(ns)
	})
	h.drv, err = bridge.New(bridge.Config{HostNS: ns, Firewall: h.fw})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := netimpl.NewRegistry(h.drv, null.New(), host.New())
	if err != nil {
		t.Fatal(err)
	}
	h.e, err = netimpl.New(netimpl.Options{
		Registry: reg,
		Seed:     "lab/" + name,
		HostNS:   ns,
		Predefined: []netimpl.NetworkSpec{
			{Name: "bridge", Driver: "bridge", Options: bridge.DefaultNetworkOptions(), IPAM: netimpl.IPAM{Config: defaultBridge}},
			{Name: "host", Driver: "host"},
			{Name: "none", Driver: "null"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// handle is a netlink handle in a namespace, closed with the test.
func handle(t *testing.T, ns string) *netlink.Handle {
	t.Helper()
	h, err := netns.Handle(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// linkNames lists the host namespace's links, sorted.
func (h *vhost) linkNames() []string {
	nl, err := netns.Handle(h.ns)
	if err != nil {
		h.t.Fatal(err)
	}
	defer nl.Close()
	links, err := netns.LinkList(nl)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		out = append(out, l.Attrs().Name)
	}
	sort.Strings(out)
	return out
}

// link returns a link of a namespace by name.
func link(t *testing.T, ns, name string) netlink.Link {
	t.Helper()
	l, err := handle(t, ns).LinkByName(name)
	if err != nil {
		t.Fatalf("%s in %s: %v", name, ns, err)
	}
	return l
}

// addrs lists the IPv4 addresses of a link as "a.b.c.d/len".
func addrs(t *testing.T, ns string, l netlink.Link) []string {
	t.Helper()
	list, err := netns.AddrList(handle(t, ns), l, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range list {
		out = append(out, a.IPNet.String())
	}
	return out
}

// defaultRoute returns "via <gw> dev <name>" of the namespace's default
// route, or "" when it has none.
func defaultRoute(t *testing.T, ns string) string {
	t.Helper()
	h := handle(t, ns)
	routes, err := netns.RouteList(h, nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range routes {
		if r.Dst != nil && r.Dst.IP.To4() != nil && !r.Dst.IP.Equal(net.IPv4zero) {
			continue
		}
		l, err := h.LinkByIndex(r.LinkIndex)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("via %s dev %s", r.Gw, l.Attrs().Name))
	}
	return strings.Join(out, "; ")
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
	if err == nil {
		t.Fatalf("want %q, got no error", msg)
	}
	var ne *netimpl.Error
	if !errors.As(err, &ne) || ne.Kind != kind || ne.Msg != msg {
		t.Fatalf("want kind %d %q, got %v (kind %d)", kind, msg, err, netimpl.KindOf(err))
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }
