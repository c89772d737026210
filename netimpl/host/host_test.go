package host

import (
	"testing"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/internal/enginetest"
)

func TestOneNetworkOnly(t *testing.T) {
	enginetest.WantOneNetwork(t, New(), netimpl.DriverInfo{Name: "host", Scope: netimpl.ScopeLocal, HostNamespace: true})
}
