package netimpl_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/host"
	"github.com/nslab/nslab/netimpl/internal/enginetest"
	"github.com/nslab/nslab/netimpl/null"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/nstest"
)

// fakeDriver is a driver with interfaces, like the bridge driver to come:
// it records joins and leaves and can be told to fail.
type fakeDriver struct {
	joins, leaves []string
	failJoin      bool
}

func (f *fakeDriver) Info() netimpl.DriverInfo {
	return netimpl.DriverInfo{Name: "fake", Scope: netimpl.ScopeLocal, Interfaces: true}
}
func (f *fakeDriver) CreateNetwork(*netimpl.Network) error { return nil }
func (f *fakeDriver) DeleteNetwork(*netimpl.Network) error { return nil }
func (f *fakeDriver) Join(n *netimpl.Network, ep *netimpl.Endpoint, sb *netimpl.Sandbox) error {
	if f.failJoin {
		return errors.New("veth: no such device")
	}
	f.joins = append(f.joins, n.Name+"/"+ep.IfName+"@"+sb.Key)
	return nil
}
func (f *fakeDriver) Leave(n *netimpl.Network, ep *netimpl.Endpoint, sb *netimpl.Sandbox) error {
	f.leaves = append(f.leaves, n.Name+"/"+ep.IfName)
	return nil
}

func newEngine(t *testing.T, hostNS string, extra ...netimpl.Driver) *netimpl.Engine {
	t.Helper()
	return enginetest.Engine(t, netimpl.Options{
		Seed:       "lab/h1",
		HostNS:     hostNS,
		Predefined: []netimpl.NetworkSpec{{Name: "host", Driver: "host"}, {Name: "none", Driver: "null"}},
	}, nil, append([]netimpl.Driver{null.New(), host.New()}, extra...)...)
}

func wantKind(t *testing.T, err error, kind netimpl.Kind, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error %q, got none", msg)
	}
	if netimpl.KindOf(err) != kind || !strings.Contains(err.Error(), msg) {
		t.Fatalf("want kind %d %q, got kind %d %q", kind, msg, netimpl.KindOf(err), err)
	}
}

func TestPredefinedNetworks(t *testing.T) {
	e := newEngine(t, "")
	nets := e.Networks()
	if len(nets) != 2 || nets[0].Name != "host" || nets[1].Name != "none" {
		t.Fatalf("networks %+v", nets)
	}
	for _, n := range nets {
		if len(n.ID) != 64 || n.Scope != "local" || !n.Predefined || n.IPAM.Driver != "default" {
			t.Errorf("network %+v", n)
		}
		if n.ID != netimpl.StableID("lab/h1", n.Name) {
			t.Errorf("%s: id %s is not the stable one", n.Name, n.ID)
		}
	}
	if netimpl.StableID("lab/h1", "host") == netimpl.StableID("lab/h2", "host") {
		t.Error("two hosts share the id of their host network")
	}
	wantKind(t, e.DeleteNetwork("host"), netimpl.KindForbidden, "host is a pre-defined network and cannot be removed")
	_, err := e.CreateNetwork(netimpl.NetworkSpec{Name: "h2", Driver: "host"})
	wantKind(t, err, netimpl.KindForbidden, `only one instance of "host" network is allowed`)
	_, err = e.CreateNetwork(netimpl.NetworkSpec{Name: "n2", Driver: "null"})
	wantKind(t, err, netimpl.KindForbidden, `only one instance of "null" network is allowed`)
	_, err = e.CreateNetwork(netimpl.NetworkSpec{Name: "br1"})
	wantKind(t, err, netimpl.KindNotFound, `plugin "bridge" not found`)
	_, err = e.CreateNetwork(netimpl.NetworkSpec{Name: "bridge", Driver: "fake"})
	wantKind(t, err, netimpl.KindForbidden, "operation is not permitted on predefined bridge network ")
	if len(e.Networks()) != 2 {
		t.Fatal("a failed create left a network behind")
	}
}

func TestNetworkLookup(t *testing.T) {
	e := newEngine(t, "", &fakeDriver{})
	a, err := e.CreateNetwork(netimpl.NetworkSpec{Name: "a", Driver: "fake", Labels: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.CreateNetwork(netimpl.NetworkSpec{Name: "a", Driver: "fake"})
	wantKind(t, err, netimpl.KindConflict, "network with name a already exists")
	for _, ref := range []string{a.ID, "a", a.ID[:10]} {
		if n, err := e.Network(ref); err != nil || n.ID != a.ID {
			t.Errorf("lookup %q: %v %v", ref, n.ID, err)
		}
	}
	_, err = e.Network("nope")
	wantKind(t, err, netimpl.KindNotFound, "network nope not found")
	// Copies only: changing what Network returned changes nothing inside.
	n, _ := e.Network("a")
	n.Labels["k"] = "changed"
	if n2, _ := e.Network("a"); n2.Labels["k"] != "v" {
		t.Fatal("engine handed out its own map")
	}
	if err := e.DeleteNetwork(a.ID[:12]); err != nil {
		t.Fatal(err)
	}
	_, err = e.Network("a")
	wantKind(t, err, netimpl.KindNotFound, "network a not found")
}

// A container that is not running is checked by the rules its next
// start's joins will apply: nothing joins a shared namespace, the host's
// namespace joins host networks only, none joins nothing else; the
// network it is to join must exist, and a configured one that is gone is
// passed over.
func TestCheckJoinOfAStoppedContainer(t *testing.T) {
	e := newEngine(t, "", &fakeDriver{})
	if _, err := e.CreateNetwork(netimpl.NetworkSpec{Name: "f1", Driver: "fake"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateNetwork(netimpl.NetworkSpec{Name: "f2", Driver: "fake"}); err != nil {
		t.Fatal(err)
	}
	const shared = "container sharing network namespace with another container or host cannot be connected to any other network"
	const none = "container cannot be connected to multiple networks with one of the networks in private (none) mode"
	for _, c := range []struct {
		kind    netimpl.SandboxKind
		joined  []string
		network string
		want    string // "" for allowed
	}{
		{netimpl.SandboxOwn, []string{"f1"}, "f2", ""},
		{netimpl.SandboxOwn, []string{"f1", "gone"}, "f2", ""},
		{netimpl.SandboxOwn, nil, "none", ""},
		{netimpl.SandboxShared, nil, "f1", shared},
		{netimpl.SandboxOwn, []string{"f1"}, "host", shared},
		{netimpl.SandboxHost, []string{"host"}, "f1", shared},
		{netimpl.SandboxHost, []string{"host"}, "none", shared},
		{netimpl.SandboxOwn, []string{"none"}, "f1", none},
		{netimpl.SandboxOwn, []string{"f1"}, "none", none},
	} {
		err := e.CheckJoin(c.kind, c.joined, c.network)
		if c.want == "" {
			if err != nil {
				t.Errorf("%v on %v joins %s: %v", c.kind, c.joined, c.network, err)
			}
			continue
		}
		if netimpl.KindOf(err) != netimpl.KindInvalid || err.Error() != c.want {
			t.Errorf("%v on %v joins %s: %v, want 400 %q", c.kind, c.joined, c.network, err, c.want)
		}
	}
	err := e.CheckJoin(netimpl.SandboxOwn, nil, "nope")
	wantKind(t, err, netimpl.KindNotFound, "network nope not found")
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
}

// testNS makes a namespace standing in for the virtual host's own.
func testNS(t *testing.T) (string, string) {
	t.Helper()
	prefix := fmt.Sprintf("nslt%d-", os.Getpid())
	path, err := netns.NewNamed(prefix + "host")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		netns.Delete(path)
		entries, _ := os.ReadDir(netns.RunDir)
		for _, en := range entries {
			if strings.HasPrefix(en.Name(), prefix) {
				t.Errorf("pin %s left behind", en.Name())
				netns.Delete(en.Name())
			}
		}
	})
	return path, prefix
}

func TestSandboxKinds(t *testing.T) {
	needRoot(t)
	hostNS, prefix := testNS(t)
	e := newEngine(t, hostNS)

	own, err := e.NewSandbox(netimpl.SandboxSpec{ContainerID: "c1", PinName: prefix + "cm08"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Join(own.ID, "none", netimpl.EndpointSpec{Name: "cm08"}); err != nil {
		t.Fatal(err)
	}
	h, err := netns.Handle(own.Key)
	if err != nil {
		t.Fatal(err)
	}
	links, err := netns.LinkList(h)
	h.Close()
	if err != nil || len(links) != 1 || links[0].Attrs().Name != "lo" || links[0].Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("none sandbox: want only lo, up; got %v %v", links, err)
	}
	if nstest.Inode(t, own.Key) == nstest.Inode(t, hostNS) {
		t.Fatal("own sandbox is the host's namespace")
	}

	hs, err := e.NewSandbox(netimpl.SandboxSpec{ContainerID: "c2", PinName: prefix + "hm", Host: true})
	if err != nil {
		t.Fatal(err)
	}
	if nstest.Inode(t, hs.Key) != nstest.Inode(t, hostNS) {
		t.Fatal("host sandbox is not the host's namespace")
	}
	if _, err := e.Join(hs.ID, "host", netimpl.EndpointSpec{Name: "hm"}); err != nil {
		t.Fatal(err)
	}

	sh, err := e.NewSandbox(netimpl.SandboxSpec{ContainerID: "c3", PinName: prefix + "cm09", Share: own.ID})
	if err != nil {
		t.Fatal(err)
	}
	if nstest.Inode(t, sh.Key) != nstest.Inode(t, own.Key) || sh.Kind != netimpl.SandboxShared || sh.SharedWith != own.ID {
		t.Fatalf("shared sandbox %+v is not cm08's namespace", sh)
	}

	// Docker's network-mode rules.
	_, err = e.Join(sh.ID, "none", netimpl.EndpointSpec{Name: "cm09"})
	wantKind(t, err, netimpl.KindInvalid, "container sharing network namespace with another container or host cannot be connected to any other network")
	_, err = e.Join(own.ID, "host", netimpl.EndpointSpec{Name: "cm08"})
	wantKind(t, err, netimpl.KindInvalid, "container sharing network namespace")
	_, err = e.Join(hs.ID, "none", netimpl.EndpointSpec{Name: "hm"})
	wantKind(t, err, netimpl.KindInvalid, "container sharing network namespace")
	_, err = e.Join(own.ID, "none", netimpl.EndpointSpec{Name: "cm08"})
	wantKind(t, err, netimpl.KindForbidden, "endpoint with name cm08 already exists in network none")

	if eps := e.Endpoints(netimpl.StableID("lab/h1", "none")); len(eps) != 1 || eps[0].ContainerID != "c1" || len(eps[0].ID) != 64 {
		t.Fatalf("none endpoints %+v", eps)
	}
	wantKind(t, e.DeleteNetwork("none"), netimpl.KindForbidden, "pre-defined")

	if err := e.Leave(own.ID, "none"); err != nil {
		t.Fatal(err)
	}
	wantKind(t, e.Leave(own.ID, "none"), netimpl.KindUnknown, "container c1 is not connected to network none")

	for _, sb := range []netimpl.Sandbox{sh, hs, own} {
		if err := e.DeleteSandbox(sb.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(sb.Key); !os.IsNotExist(err) {
			t.Fatalf("pin %s still there: %v", sb.Key, err)
		}
	}
	// The host's namespace survives its host-mode sandbox.
	if _, err := os.Stat(hostNS); err != nil {
		t.Fatal(err)
	}
}

func TestJoinInterfacesAndUndo(t *testing.T) {
	needRoot(t)
	hostNS, prefix := testNS(t)
	fake := &fakeDriver{}
	e := newEngine(t, hostNS, fake)
	for _, name := range []string{"a", "b"} {
		if _, err := e.CreateNetwork(netimpl.NetworkSpec{Name: name, Driver: "fake"}); err != nil {
			t.Fatal(err)
		}
	}
	sb, err := e.NewSandbox(netimpl.SandboxSpec{ContainerID: "c1", PinName: prefix + "c1"})
	if err != nil {
		t.Fatal(err)
	}
	epA, err := e.Join(sb.ID, "a", netimpl.EndpointSpec{Name: "c1", Aliases: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	epB, err := e.Join(sb.ID, "b", netimpl.EndpointSpec{Name: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if epA.IfName != "eth0" || epB.IfName != "eth1" || epA.Aliases[0] != "web" {
		t.Fatalf("interfaces %q %q", epA.IfName, epB.IfName)
	}
	// none is exclusive: a sandbox on a network joins no none network.
	_, err = e.Join(sb.ID, "none", netimpl.EndpointSpec{Name: "c1"})
	wantKind(t, err, netimpl.KindInvalid, "container cannot be connected to multiple networks with one of the networks in private (none) mode")
	wantKind(t, e.DeleteNetwork("a"), netimpl.KindForbidden, "has active endpoints")

	// Numbers only grow, as libnetwork's nextIfIndex: on Docker 20.10 a
	// container that leaves eth0 and joins again gets eth2.
	if err := e.Leave(sb.ID, "a"); err != nil {
		t.Fatal(err)
	}
	epA, err = e.Join(sb.ID, "a", netimpl.EndpointSpec{Name: "c1"})
	if err != nil || epA.IfName != "eth2" {
		t.Fatalf("rejoin: %q %v", epA.IfName, err)
	}

	// A failing driver leaves no endpoint behind.
	sb2, err := e.NewSandbox(netimpl.SandboxSpec{ContainerID: "c2", PinName: prefix + "c2"})
	if err != nil {
		t.Fatal(err)
	}
	fake.failJoin = true
	_, err = e.Join(sb2.ID, "a", netimpl.EndpointSpec{Name: "c2"})
	if err == nil || !strings.Contains(err.Error(), "network a: join c2: veth: no such device") {
		t.Fatalf("failing join: %v", err)
	}
	if eps := e.SandboxEndpoints(sb2.ID); len(eps) != 0 {
		t.Fatalf("failed join left %v", eps)
	}
	fake.failJoin = false

	if err := e.DeleteSandbox(sb.ID); err != nil {
		t.Fatal(err)
	}
	// The explicit leave, then newest first: the rejoined a, then b.
	if got := strings.Join(fake.leaves, ","); got != "a/eth0,a/eth2,b/eth1" {
		t.Fatalf("leaves %s", got)
	}
	if err := e.DeleteNetwork("a"); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteSandbox(sb2.ID); err != nil {
		t.Fatal(err)
	}
}

// With a SandboxDir, every sandbox is pinned under Docker's key there too,
// and the engine works through it: the first 12 digits of its id; for the
// host's namespace "default", kept until Close as dockerd keeps it; for a
// shared namespace its target's key, kept while a sharer is left.
func TestSandboxKeys(t *testing.T) {
	needRoot(t)
	hostNS, prefix := testNS(t)
	dir := filepath.Join(t.TempDir(), "netns")
	reg, err := netimpl.NewRegistry(null.New(), host.New())
	if err != nil {
		t.Fatal(err)
	}
	e, err := netimpl.New(netimpl.Options{Registry: reg, Seed: "lab/h1", HostNS: hostNS, SandboxDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }

	own, err := e.NewSandbox(netimpl.SandboxSpec{ContainerID: "c1", PinName: prefix + "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if own.Key != filepath.Join(dir, own.ID[:12]) || nstest.Inode(t, own.Key) != nstest.Inode(t, netns.Path(prefix+"k1")) {
		t.Fatalf("own sandbox key %s (id %s): want %s/<first 12 digits>, the namespace pinned as %s", own.Key, own.ID, dir, prefix+"k1")
	}
	hs, err := e.NewSandbox(netimpl.SandboxSpec{ContainerID: "c2", PinName: prefix + "k2", Host: true})
	if err != nil {
		t.Fatal(err)
	}
	if hs.Key != filepath.Join(dir, netimpl.DefaultSandboxKey) || nstest.Inode(t, hs.Key) != nstest.Inode(t, hostNS) {
		t.Fatalf("host sandbox key %s: want %s/default, the host's namespace", hs.Key, dir)
	}
	sh, err := e.NewSandbox(netimpl.SandboxSpec{ContainerID: "c3", PinName: prefix + "k3", Share: own.ID})
	if err != nil {
		t.Fatal(err)
	}
	if sh.Key != own.Key || nstest.Inode(t, netns.Path(prefix+"k3")) != nstest.Inode(t, own.Key) {
		t.Fatalf("shared sandbox key %s: want its target's, %s", sh.Key, own.Key)
	}

	if err := e.DeleteSandbox(own.ID); err != nil {
		t.Fatal(err)
	}
	if exists(netns.Path(prefix+"k1")) || !exists(own.Key) {
		t.Fatalf("after removing the shared-from sandbox: its pin must go (%v), the key its sharer uses stay (%v)", exists(netns.Path(prefix+"k1")), exists(own.Key))
	}
	if err := e.DeleteSandbox(sh.ID); err != nil {
		t.Fatal(err)
	}
	if exists(own.Key) || exists(netns.Path(prefix+"k3")) {
		t.Fatalf("the last sandbox on %s is gone, its key is not", own.Key)
	}
	if err := e.DeleteSandbox(hs.ID); err != nil {
		t.Fatal(err)
	}
	if !exists(hs.Key) || exists(netns.Path(prefix+"k2")) {
		t.Fatalf("after the host-mode sandbox: default must stay (%v), its pin go (%v)", exists(hs.Key), exists(netns.Path(prefix+"k2")))
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if exists(hs.Key) {
		t.Fatalf("%s left after Close", hs.Key)
	}
}
