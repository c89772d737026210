package capture

import (
	"testing"

	"github.com/nslab/nslab/netns/nstest"
)

// pair makes namespaces a and b joined by a veth pair "ab"/"ba" with
// 192.168.100.1/24 and .2/24, the picture of exercise E01.
func pair(t testing.TB) (a, b string) {
	t.Helper()
	return nstest.Segment(t, prefix,
		nstest.End{Role: "a", Link: "ab", CIDRs: []string{"192.168.100.1/24"}},
		nstest.End{Role: "b", Link: "ba", CIDRs: []string{"192.168.100.2/24"}})
}

// promisc reads the interface's promiscuity count from the kernel
// (IFLA_PROMISCUITY: a packet socket's membership does not show in the
// link flags, which report only what SIOCSIFFLAGS asked).
func promisc(t testing.TB, ns, link string) bool {
	t.Helper()
	return nstest.Link(t, ns, link).Attrs().Promisc > 0
}
