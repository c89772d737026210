package firewall

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nslab/nslab/netns"
)

// newHoldingBackend is newBackend of the iptables backend with
// Options.HoldSetup, as hostd makes it.
func newHoldingBackend(t *testing.T, path string) *ipTables {
	t.Helper()
	return newBackendWith(t, KindIPTables, path, Options{HoldSetup: true}).(*ipTables)
}

// countRestores points the backend's iptables-restore at a wrapper that
// counts its runs and execs the real one (its iptables-save beside it),
// and returns how to read the count.
func countRestores(t *testing.T, b *ipTables) func() int {
	t.Helper()
	dir := t.TempDir()
	count := filepath.Join(dir, "runs")
	script := fmt.Sprintf("#!/bin/sh\necho run >> %s\nexec %s \"$@\"\n", count, b.restore)
	must(t, os.WriteFile(filepath.Join(dir, "iptables-restore"), []byte(script), 0o755))
	must(t, os.Symlink(strings.TrimSuffix(b.restore, "-restore")+"-save", filepath.Join(dir, "iptables-save")))
	b.restore = filepath.Join(dir, "iptables-restore")
	return func() int {
		raw, err := os.ReadFile(count)
		if os.IsNotExist(err) {
			return 0
		}
		must(t, err)
		return strings.Count(string(raw), "run\n")
	}
}

// dockerChains says whether iptables-save shows Setup's work: the jump to
// DOCKER-USER in FORWARD, and the DOCKER chain.
func dockerChains(save []string) bool {
	return slices.Contains(save, "-A FORWARD -j DOCKER-USER") && slices.Contains(save, ":DOCKER - [0:0]")
}

// TestSetupGoesInWithTheFirstNetwork: the iptables backend with
// HoldSetup holds Setup's rules back until the first network's and writes
// both with one iptables-restore: the rules are those of Setup written
// alone and then the network's, and the backend knows them (knownRules).
// Every other call writes the held rules first, and so do WriteHeld and
// Close.
func TestSetupGoesInWithTheFirstNetwork(t *testing.T) {
	needRoot(t)
	needTool(t, "iptables-save")
	alone, _ := newNS(t, "alone")
	a := newBackend(t, KindIPTables, alone)
	if a.(*ipTables).restore == "" {
		t.Skip("needs the iptables-restore of iptables' flavour: without it every rule is an exec of its own, and nothing is held")
	}
	must(t, a.Setup())
	must(t, a.WriteHeld())
	if !dockerChains(iptablesSave(t, alone)) {
		t.Fatal("Setup then WriteHeld: no DOCKER chains")
	}
	must(t, a.AddNetwork(docker0))
	want := iptablesSave(t, alone)

	merged, _ := newNS(t, "merged")
	b := newHoldingBackend(t, merged)
	// Through iptables-restore, as where iptables is not iptables-nft;
	// TestFirstBatchAsIPTablesRestoreWrites has the netlink way.
	b.restoreOnly = true
	runs := countRestores(t, b)
	must(t, b.Setup())
	if dockerChains(iptablesSave(t, merged)) || runs() != 0 {
		t.Fatalf("Setup wrote its rules before the first network (%d iptables-restore)", runs())
	}
	must(t, b.AddNetwork(docker0))
	if n := runs(); n != 1 {
		t.Errorf("Setup and docker0 took %d iptables-restore, want 1", n)
	}
	if d := diffLines(iptablesSave(t, merged), want); d != "" {
		t.Fatalf("Setup written with docker0 left other rules than Setup alone, then docker0:\n%s", d)
	}
	if b.nft {
		var st iptState
		must(t, netns.Do(merged, func() (err error) { st, err = b.save(); return err }))
		if b.known == nil || !maps.Equal(b.known.st.rules, st.rules) || !slices.Equal(b.known.st.forward, st.forward) {
			t.Fatalf("the rules known after Setup and docker0 are not iptables-save's: %+v", b.known)
		}
	}

	for _, c := range []struct {
		name string
		call func(Backend) error
	}{
		{"WriteHeld", Backend.WriteHeld},
		{"Close", Backend.Close},
		{"SetForwardPolicy", func(b Backend) error { return b.SetForwardPolicy(PolicyDrop) }},
		{"RemoveNetwork", func(b Backend) error { return b.RemoveNetwork(br1) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ns, _ := newNS(t, "held")
			b := newHoldingBackend(t, ns)
			must(t, b.Setup())
			must(t, c.call(b))
			if !dockerChains(iptablesSave(t, ns)) {
				t.Fatalf("Setup, then %s: Setup's rules are not there", c.name)
			}
		})
	}
}
