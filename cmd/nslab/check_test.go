package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// On a lab: status 0 when all pass, 1 when one fails, the JSON report
// naming the failure; a file naming a host the lab lacks is status 2.
func TestCheckCommand(t *testing.T) {
	needRoot(t)
	t.Parallel()
	bin, root, id, in := upDetached(t, "ck", twoPlainHosts)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	good := write("good.yaml", "exercise: T1\nchecks:\n  - ping: {from: h1, to: h2, both: true}\n  - forwarding: {at: h1, enabled: false}\n")
	if r := in("check", good); r.code != 0 || !strings.Contains(r.stdout, "T1 ("+good+") on lab "+id+": 3 checks, 3 passed, 0 failed") {
		t.Errorf("good: status %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	failing := write("failing.yaml", "checks:\n  - ping: {from: h1, to: h2}\n  - {name: route out, route: {at: h1, to: default}, deadline: 300ms}\n")
	r := in("check", "--format", "json", failing)
	var rep struct {
		Failed  int
		Results []struct {
			Name, Seen string
			Passed     bool
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != 1 || err != nil || rep.Failed != 1 || rep.Results[1].Name != "route out" || !strings.Contains(rep.Results[1].Seen, "routes: 10.77.0.0/24 dev eth1") {
		t.Errorf("failing: status %d, %v\n%s", r.code, err, r.stdout)
	}
	// --deadline caps the file's 5 s: the failing check gives up at once.
	slow := write("slow.yaml", "checks:\n  - {name: route out, route: {at: h1, to: default}}\n")
	r = in("check", "--format", "json", "--deadline", "300ms", slow)
	var capped struct {
		Results []struct{ Duration time.Duration }
	}
	if err := json.Unmarshal([]byte(r.stdout), &capped); r.code != 1 || err != nil || len(capped.Results) != 1 || capped.Results[0].Duration > 2*time.Second {
		t.Errorf("--deadline 300ms: status %d, %v\n%s", r.code, err, r.stdout)
	}
	foreign := write("foreign.yaml", "checks:\n  - ping: {from: node1, to: h2}\n")
	if r := in("check", foreign); r.code != 2 || !strings.Contains(r.stderr, foreign+":2: ping:") {
		t.Errorf("foreign: status %d, %q", r.code, r.stderr)
	}
	mustNslab(t, bin, "--root", root, "--lab", id, "down")
}
