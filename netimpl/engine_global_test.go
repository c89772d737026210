package netimpl_test

import (
	"net/netip"
	"testing"

	"github.com/nslab/nslab/netimpl"
)

// globalDriver stands for the overlay driver as the engine sees it: global
// scope, addressed endpoints that provide no gateway.
type globalDriver struct{ fakeDriver }

func (g *globalDriver) Info() netimpl.DriverInfo {
	return netimpl.DriverInfo{Name: "global", Scope: netimpl.ScopeGlobal, Addressing: true, NoGateway: true}
}

// A global network keeps the cluster store's id on every host; the
// store's address is taken as given (not --ip's user-subnet rule), and
// its endpoint carries no gateway, so it never routes the sandbox out.
func TestGlobalNetworkFromTheStore(t *testing.T) {
	needRoot(t)
	hostNS, prefix := testNS(t)
	e := newEngine(t, hostNS, &globalDriver{})
	const id = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
	// No subnet of the user's: the engine's pool is the first of Docker's
	// global defaults, 10.0.0.0/24, as the store's would be.
	spec := netimpl.NetworkSpec{Name: "ov1", Driver: "global"}
	_, err := e.CreateNetworkID("0f1e", spec)
	wantKind(t, err, netimpl.KindInvalid, "too short")
	n, err := e.CreateNetworkID(id, spec)
	if err != nil {
		t.Fatal(err)
	}
	if n.ID != id || n.Scope != netimpl.ScopeGlobal {
		t.Fatalf("network %s scope %s, want the store's id, global", n.ID, n.Scope)
	}
	_, err = e.CreateNetworkID(id, netimpl.NetworkSpec{Name: "ov2", Driver: "global"})
	wantKind(t, err, netimpl.KindConflict, "network with id "+id+" already exists")
	_, err = e.CreateNetworkID(id[:12]+"ffff", spec)
	wantKind(t, err, netimpl.KindConflict, "network with name ov1 already exists")

	sb, err := e.NewSandbox(netimpl.SandboxSpec{ContainerID: "c1", PinName: prefix + "c1"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.DeleteSandbox(sb.ID)
	want := netip.MustParseAddr("10.0.0.7")
	_, err = e.Join(sb.ID, "ov1", netimpl.EndpointSpec{Name: "c1", IPv4: want})
	wantKind(t, err, netimpl.KindInvalid, "user specified IP address is supported only when connecting to networks with user configured subnets")
	ep, err := e.Join(sb.ID, "ov1", netimpl.EndpointSpec{Name: "c1", IPv4: want, Assigned: true})
	if err != nil {
		t.Fatal(err)
	}
	if ep.Addr.String() != "10.0.0.7/24" || ep.Gateway != nil {
		t.Fatalf("endpoint %s gateway %v, want 10.0.0.7/24 and no gateway", ep.Addr, ep.Gateway)
	}
}
