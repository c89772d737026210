package firewall

import (
	"maps"
	"strings"
	"testing"

	"github.com/nslab/nslab/netns"
)

// The rules a batch leaves, as the backend models them to skip the next
// iptables-save, are those iptables-save then shows; a change made by
// anyone else moves the namespace's nf_tables generation, and the next
// batch reads the rules again.
func TestKnownRulesAreWhatSaveShows(t *testing.T) {
	needRoot(t)
	needTool(t, "iptables-save")
	ns, _ := newNS(t, "known")
	b := newBackend(t, KindIPTables, ns)
	ipt := b.(*ipTables)
	if !ipt.nft || ipt.restore == "" {
		t.Skip("needs iptables-nft with its iptables-restore: the model stands only while the nf_tables generation does")
	}
	saved := func() iptState {
		t.Helper()
		var st iptState
		err := netns.Do(ns, func() (err error) {
			st, err = ipt.save()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	same := func(step string) {
		t.Helper()
		if ipt.known == nil {
			t.Fatalf("after %s: no rules known", step)
		}
		if got, want := ipt.known.st.rules, saved().rules; !maps.Equal(got, want) {
			t.Fatalf("after %s: known rules\n%v\niptables-save\n%v", step, got, want)
		}
	}
	must(t, b.Setup())
	same("setup")
	must(t, b.AddNetwork(docker0))
	same("docker0")

	// A rule written by someone else: the next network is checked against
	// it, not against the model.
	jump := "-A FORWARD -o " + br1.Bridge + " -j DOCKER"
	runIn(t, ns, "iptables", "-A", "FORWARD", "-o", br1.Bridge, "-j", "DOCKER")
	must(t, b.AddNetwork(br1))
	same("br1 after a foreign rule")
	filter := runIn(t, ns, "iptables-save", "-t", "filter")
	if n := strings.Count(filter, jump+"\n"); n != 1 {
		t.Fatalf("br1's jump to DOCKER is there %d times, want once (checked against the foreign rule):\n%s", n, filter)
	}
}
