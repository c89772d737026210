package nstest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/netns"
	"github.com/vishvananda/netlink"
)

// Settle waits until the kernel has freed the network namespaces of what a
// benchmark took down before: unpinning returns at once and the kernel
// destroys namespaces (and their links) later, in a worker that would
// otherwise compete with the next round. It is settled once, for half a
// second, the count of live net_namespace objects stopped falling (other
// sessions' namespaces come and go too) and the RTNL lock answered a fresh
// namespace's loopback at once; or after 20 s. The second test matters:
// the worker frees a batch of namespaces' objects only at its end, and
// holds the RTNL meanwhile (1.7 s after a lab of 100 docker hosts), so the
// count alone can look stable while the next round's first link would
// wait. It is for benchmarks, outside their timer.
func Settle(tb testing.TB) {
	tb.Helper()
	last, stable := -1, 0
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		n, err := LiveNetNamespaces()
		if err != nil {
			tb.Logf("cannot tell whether the kernel is still freeing namespaces: %v", err)
			return
		}
		quick, err := rtnlAnswersAtOnce()
		if err != nil {
			tb.Logf("cannot tell whether the kernel is still freeing namespaces: %v", err)
			return
		}
		if last >= 0 && n >= last && quick {
			if stable++; stable >= 5 {
				return
			}
		} else {
			stable = 0
		}
		last = n
	}
	tb.Logf("the kernel was still freeing network namespaces after 20s")
}

// rtnlAnswersAtOnce makes a namespace that vanishes at once and sets its
// loopback up, which takes the RTNL lock: true if that took under 20 ms.
func rtnlAnswersAtOnce() (bool, error) {
	t0 := time.Now()
	err := netns.DoFresh(func() error {
		return netlink.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}})
	})
	return time.Since(t0) < 20*time.Millisecond, err
}

// LiveNetNamespaces reads the active net_namespace objects of
// /proc/slabinfo: every namespace of the machine the kernel still holds.
func LiveNetNamespaces() (int, error) {
	data, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && f[0] == "net_namespace" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("no net_namespace slab in /proc/slabinfo")
}
