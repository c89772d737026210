package host

import (
	"testing"

	"github.com/nslab/nslab/netimpl/internal/enginetest"
)

func TestOneNetworkOnly(t *testing.T) {
	d := New()
	if info := d.Info(); info.Name != "host" || !info.HostNamespace || info.Exclusive || info.Interfaces {
		t.Fatalf("info %+v", info)
	}
	enginetest.WantOneNetwork(t, d)
}
