package capture

import (
	"testing"

	"github.com/nslab/nslab/netns/nstest"
)

// pair makes namespaces a and b joined by a veth pair "ab"/"ba" with
// 192.168.100.1/24 and .2/24, the picture of exercise E01.
func pair(t testing.TB) (a, b string) {
	t.Helper()
	a, b = nstest.NewNS(t, prefix, "a"), nstest.NewNS(t, prefix, "b")
	nstest.Veth(t, a, "ab", b, "ba")
	nstest.Addr(t, a, "ab", "192.168.100.1/24")
	nstest.Addr(t, b, "ba", "192.168.100.2/24")
	return a, b
}

// promisc reads the interface's promiscuity count from the kernel
// (IFLA_PROMISCUITY: a packet socket's membership does not show in the
// link flags, which report only what SIOCSIFFLAGS asked).
func promisc(t testing.TB, ns, link string) bool {
	t.Helper()
	return nstest.Link(t, ns, link).Attrs().Promisc > 0
}
