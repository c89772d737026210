package rootns

import (
	"os"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	before := Snapshot{"links": {"lo type=device", "eth0 type=device"}, "netns": {}}
	after := Snapshot{"links": {"lo type=device", "eth0 type=device", "veth1 type=veth"}, "netns": {"x-host1"}}
	d := Diff(before, after)
	want := []string{"links: + veth1 type=veth", "netns: + x-host1"}
	if strings.Join(d, "|") != strings.Join(want, "|") {
		t.Fatalf("diff %q, want %q", d, want)
	}
	if d := Diff(before, before); len(d) != 0 {
		t.Fatalf("equal snapshots differ: %q", d)
	}
	if d := Diff(after, before); len(d) != 2 || !strings.Contains(d[0], " - ") {
		t.Fatalf("removal not reported: %q", d)
	}
}

// Two snapshots taken one after the other read the same, but for what
// other runs' labs and tests changed meanwhile.
func TestTakeTwiceIsStable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: reads iptables and nftables rulesets")
	}
	a, err := Take()
	if err != nil {
		t.Fatal(err)
	}
	if len(a["links"]) == 0 || len(a["mounts"]) == 0 {
		t.Fatalf("snapshot is missing sections: %v", a)
	}
	b, err := Take()
	if err != nil {
		t.Fatal(err)
	}
	// Other runs make and remove their labs meanwhile (package tests run
	// side by side): what they name is theirs. What no lab names — the
	// root namespace's links, routes, rulesets, sysctls — must read the
	// same twice: nothing of it changes on its own, counters aside.
	none := func(string) bool { return false }
	if d, _ := Mine(Diff(a, b), none, ""); len(d) != 0 {
		t.Fatalf("two snapshots of what no lab names differ: %q", d)
	}
}
