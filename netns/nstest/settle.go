package nstest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Settle waits until the kernel has freed the network namespaces of what a
// benchmark took down before: unpinning returns at once and the kernel
// destroys namespaces (and their links) later, in a worker that would
// otherwise compete with the next round. It watches the count of live
// net_namespace objects; it is settled once the count stopped falling for
// half a second (other sessions' namespaces come and go too), or after
// 20 s. It is for benchmarks, outside their timer.
func Settle(tb testing.TB) {
	tb.Helper()
	last, stable := -1, 0
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		n, err := LiveNetNamespaces()
		if err != nil {
			tb.Logf("cannot tell whether the kernel is still freeing namespaces: %v", err)
			return
		}
		if last >= 0 && n >= last {
			if stable++; stable >= 5 {
				return
			}
		} else {
			stable = 0
		}
		last = n
	}
	tb.Logf("the number of network namespaces was still falling after 20s")
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
