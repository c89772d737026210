package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchTopology writes a lab of n docker hosts on one segment.
func benchTopology(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "name: bench%d\nsegments:\n  - name: lan0\n    prefix: 10.99.0.0/24\nhosts:\n", n)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  - name: h%d\n    kind: docker\n    interfaces:\n      - segment: lan0\n        address: 10.99.0.%d/24\n", i, 10+i)
	}
	path := filepath.Join(t.TempDir(), fmt.Sprintf("bench-%d.yaml", n))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// labState reads the state field of lab.json ("" when unreadable).
func labState(root, id string) string {
	b, err := os.ReadFile(filepath.Join(root, id, "lab.json"))
	if err != nil {
		return ""
	}
	var s struct{ State string }
	json.Unmarshal(b, &s)
	return s.State
}

// TestGCAfterKillDuringUp: SIGKILL `nslab up` of a 30-host lab once it has
// pinned namespaces and started daemons but before it is ready; `nslab gc`
// then removes everything it had made.
func TestGCAfterKillDuringUp(t *testing.T) {
	needRoot(t)
	t.Parallel()
	bin, root, id := freshLab(t, "gck")
	file := benchTopology(t, 30)

	up, out, errb, exited := startUp(t, bin, root, id, file)

	// Wait for the middle of up: namespaces pinned and at least one hostd
	// started, the lab not yet up.
	deadline := time.Now().Add(60 * time.Second)
	for {
		hostds, _ := filepath.Glob(filepath.Join(root, id, "*", "hostd.pid"))
		if len(pins(id)) > 2 && len(hostds) > 0 {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("nslab up exited before the middle of up: %v\n%s", err, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			up.Process.Kill()
			t.Fatalf("no hostd started within 60s:\n%s", errb.String())
		}
		time.Sleep(time.Millisecond)
	}
	if err := up.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	if st := labState(root, id); st != "starting" || strings.Contains(out.String(), "is up") {
		t.Fatalf("the kill came too late: lab state %q, output:\n%s", st, out.String())
	}
	seen := procsIn(id)
	t.Logf("killed nslab up with %d namespace pins and %d processes in them", len(pins(id)), len(seen))
	if len(pins(id)) == 0 || len(seen) == 0 {
		t.Fatalf("nothing left to collect: pins %v, processes %v", pins(id), seen)
	}

	r := mustNslab(t, bin, "--root", root, "gc")
	if strings.TrimSpace(r.stdout) != id {
		t.Errorf("gc printed %q, want the lab id", r.stdout)
	}
	assertGone(t, root, id, seen)
	// A second gc has nothing to do.
	if r := mustNslab(t, bin, "--root", root, "gc"); r.stdout != "" {
		t.Errorf("second gc removed %q", r.stdout)
	}
}
