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
	return nstest.Segment(t, prefix,
		nstest.End{Role: "a", Link: "ab", CIDRs: []string{"192.168.100.1/24", "fd00:100::1/64"}},
		nstest.End{Role: "b", Link: "ba", CIDRs: []string{"192.168.100.2/24", "fd00:100::2/64"}})
}
