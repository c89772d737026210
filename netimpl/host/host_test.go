package host

import (
	"testing"

	"github.com/nslab/nslab/netimpl"
)

func TestOneNetworkOnly(t *testing.T) {
	d := New()
	if info := d.Info(); info.Name != "host" || !info.HostNamespace || info.Exclusive || info.Interfaces {
		t.Fatalf("info %+v", info)
	}
	a, b := &netimpl.Network{ID: "a"}, &netimpl.Network{ID: "b"}
	if err := d.CreateNetwork(a); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateNetwork(b); netimpl.KindOf(err) != netimpl.KindForbidden {
		t.Fatalf("second host network: %v", err)
	}
	if err := d.DeleteNetwork(a); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateNetwork(b); err != nil {
		t.Fatalf("after delete: %v", err)
	}
}
