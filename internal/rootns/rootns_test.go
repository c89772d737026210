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
	if d := Diff(a, b); len(d) != 0 {
		t.Fatalf("two snapshots of an idle machine differ: %q", d)
	}
}
