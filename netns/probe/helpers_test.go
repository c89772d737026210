package probe

import (
	"net/netip"
	"testing"

	"github.com/nslab/nslab/netns/nstest"
)

var (
	ipA    = netip.MustParseAddr("192.168.100.1")
	ipB    = netip.MustParseAddr("192.168.100.2")
	ipC    = netip.MustParseAddr("192.168.100.3")
	ipNone = netip.MustParseAddr("192.168.100.99") // on the segment, no host
	ip6A   = netip.MustParseAddr("fd00:100::1")
	ip6B   = netip.MustParseAddr("fd00:100::2")
)

// twoHosts is exercise E01's picture: two namespaces joined by a veth pair,
// 192.168.100.1/24 and .2/24 (and fd00:100::1/64, ::2/64).
func twoHosts(t *testing.T) (a, b string) {
	t.Helper()
	a, b = nstest.NewNS(t, prefix, "a"), nstest.NewNS(t, prefix, "b")
	nstest.Veth(t, a, "ab", b, "ba")
	nstest.Addr(t, a, "ab", "192.168.100.1/24")
	nstest.Addr(t, a, "ab", "fd00:100::1/64")
	nstest.Addr(t, b, "ba", "192.168.100.2/24")
	nstest.Addr(t, b, "ba", "fd00:100::2/64")
	return a, b
}
