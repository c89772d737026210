package gre

import (
	"os"
	"strings"
	"testing"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/nstest"
)

// veth joins nsA and nsB (see nstest.Veth) with both ends at mtu, unless
// it is 0.
func veth(t testing.TB, nsA, nameA, nsB, nameB string, mtu int) {
	t.Helper()
	nstest.Veth(t, nsA, nameA, nsB, nameB)
	if mtu == 0 {
		return
	}
	for _, end := range [][2]string{{nsA, nameA}, {nsB, nameB}} {
		if err := nstest.Handle(t, end[0]).LinkSetMTU(nstest.Link(t, end[0], end[1]), mtu); err != nil {
			t.Fatalf("%s: %s: mtu %d: %v", end[0], end[1], mtu, err)
		}
	}
}

// bridge makes a Linux bridge in ns with cidr on it, up.
func bridge(t testing.TB, ns, name, cidr string) {
	t.Helper()
	nstest.Bridge(t, ns, name)
	nstest.Addr(t, ns, name, cidr)
}

// sysctl writes a /proc/sys/net value of ns (per-namespace files are
// resolved in the namespace of the thread that opens them).
func sysctl(t testing.TB, ns, key, value string) {
	t.Helper()
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	if err := netns.Do(ns, func() error { return os.WriteFile(path, []byte(value), 0o644) }); err != nil {
		t.Fatalf("%s: sysctl %s=%s: %v", ns, key, value, err)
	}
}
