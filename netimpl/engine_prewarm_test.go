package netimpl_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/host"
	"github.com/nslab/nslab/netimpl/null"
)

// heldNetNamespaces counts the network namespaces this process holds by a
// descriptor: the pool's namespaces, made ahead of time and pinned nowhere.
func heldNetNamespaces(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(l, "net:[") {
			seen[l] = true
		}
	}
	return len(seen)
}

// TestPrewarm: the pool of namespaces starts on Prewarm (the daemon saw a
// network or a container created), not with the engine, holds as many as
// it was told, and goes with Close.
func TestPrewarm(t *testing.T) {
	needRoot(t)
	hostNS, _ := testNS(t)
	before := heldNetNamespaces(t)
	reg, err := netimpl.NewRegistry(null.New(), host.New())
	if err != nil {
		t.Fatal(err)
	}
	e, err := netimpl.New(netimpl.Options{
		Seed: "lab/h1", HostNS: hostNS, PrewarmSandboxes: 3, Registry: reg,
		Predefined: []netimpl.NetworkSpec{{Name: "host", Driver: "host"}, {Name: "none", Driver: "null"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := heldNetNamespaces(t) - before; n != 0 {
		e.Close()
		t.Fatalf("%d namespaces made ahead of time before Prewarm", n)
	}
	e.Prewarm()
	e.Prewarm() // a second sign starts nothing more
	// The pool holds 3, and its filler makes no more until one is taken.
	const want = 3
	deadline := time.Now().Add(10 * time.Second)
	for heldNetNamespaces(t)-before < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if n := heldNetNamespaces(t) - before; n != want {
		e.Close()
		t.Fatalf("%d namespaces made ahead of time after Prewarm, want %d", n, want)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if n := heldNetNamespaces(t) - before; n != 0 {
		t.Fatalf("%d namespaces still held after Close", n)
	}
}
