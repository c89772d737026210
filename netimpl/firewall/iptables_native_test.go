package firewall

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nslab/nslab/netns"
)

// TestFirstBatchAsIPTablesRestoreWrites: a daemon's first batch written
// through netlink (iptables_native.go) leaves in the kernel what
// iptables-restore leaves: the same tables, the same chains with the same
// hooks, priorities, types and policies, the same rules in the same order
// with the same expressions (xtables extensions' data included), and the
// same iptables-save. iptables-nft then takes the rules for its own: the
// network's removal (iptables-restore deleting them by their specs) leaves
// the same again. For each shape of network a daemon starts with.
func TestFirstBatchAsIPTablesRestoreWrites(t *testing.T) {
	needRoot(t)
	needTool(t, "iptables-save")
	internal := Network{Bridge: "br-0123456789ab", Subnet: netip.MustParsePrefix("10.9.0.0/24"), ICC: true, Internal: true}
	noICC := Network{Bridge: "docker0", Subnet: netip.MustParsePrefix("192.168.7.0/24"), Masquerade: true}
	noMasq := Network{Bridge: "docker0", Subnet: netip.MustParsePrefix("172.17.0.0/16"), ICC: true}
	// Held, Setup goes with the network in the first batch; not held,
	// Setup's batch is the first and the network's goes to
	// iptables-restore.
	for _, c := range []struct {
		name     string
		o        Options
		n        Network
		restores int // after the network's rules
	}{
		{"docker0", Options{HoldSetup: true}, docker0, 0},
		{"not held", Options{}, docker0, 1},
		{"hairpin", Options{HoldSetup: true, Hairpin: true}, docker0, 0},
		{"no ICC", Options{HoldSetup: true}, noICC, 0},
		{"no masquerade", Options{HoldSetup: true}, noMasq, 0},
		{"internal", Options{HoldSetup: true}, internal, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			restored, _ := newNS(t, "rst")
			native, _ := newNS(t, "nat")
			if c.o.Hairpin {
				// route_localnet is the bridge's.
				for _, ns := range []string{restored, native} {
					runIn(t, ns, "ip", "link", "add", c.n.Bridge, "type", "bridge")
				}
			}
			r := newBackendWith(t, KindIPTables, restored, c.o).(*ipTables)
			if !r.nft {
				t.Skip("iptables is not iptables-nft here: every batch goes to iptables-restore")
			}
			r.restoreOnly = true
			n := newBackendWith(t, KindIPTables, native, c.o).(*ipTables)
			runs := countRestores(t, n)
			for _, b := range []*ipTables{r, n} {
				must(t, b.Setup())
				must(t, b.AddNetwork(c.n))
			}
			if got := runs(); got != c.restores {
				t.Errorf("Setup and the network took %d iptables-restore, want %d", got, c.restores)
			}
			sameRuleset(t, restored, native)
			for _, b := range []*ipTables{r, n} {
				must(t, b.RemoveNetwork(c.n))
			}
			if got := runs(); got != c.restores+1 {
				t.Errorf("the network's removal took %d iptables-restore, want 1", got-c.restores)
			}
			sameRuleset(t, restored, native)
		})
	}
}

// TestFirstBatchRefusedGoesToIPTablesRestore: where the kernel refuses
// the netlink transaction, the batch goes to iptables-restore and leaves
// what it leaves.
func TestFirstBatchRefusedGoesToIPTablesRestore(t *testing.T) {
	needRoot(t)
	needTool(t, "iptables-save")
	restored, _ := newNS(t, "rst")
	r := newBackendWith(t, KindIPTables, restored, Options{HoldSetup: true}).(*ipTables)
	if !r.nft {
		t.Skip("iptables is not iptables-nft here: every batch goes to iptables-restore")
	}
	r.restoreOnly = true
	refused, _ := newNS(t, "ref")
	n := newBackendWith(t, KindIPTables, refused, Options{HoldSetup: true}).(*ipTables)
	runs := countRestores(t, n)
	defer func(w func([]*nativeTable) error) { nativeWrite = w }(nativeWrite)
	nativeWrite = func([]*nativeTable) error { return fmt.Errorf("refused") }
	for _, b := range []*ipTables{r, n} {
		must(t, b.Setup())
		must(t, b.AddNetwork(docker0))
	}
	if got := runs(); got != 1 {
		t.Errorf("a refused first batch took %d iptables-restore, want 1", got)
	}
	sameRuleset(t, restored, refused)
}

// sameRuleset fails unless the namespaces at a and b hold the same
// nf_tables ruleset (handles aside) and iptables-save prints the same.
func sameRuleset(t *testing.T, a, b string) {
	t.Helper()
	ra, rb := kernelRuleset(t, a), kernelRuleset(t, b)
	if ra != rb {
		t.Fatalf("nf_tables rulesets differ:\niptables-restore's:\n%s\nnetlink's:\n%s", ra, rb)
	}
	if d := diffLines(iptablesSave(t, b), iptablesSave(t, a)); d != "" {
		t.Fatalf("iptables-save differs (got: netlink's, want: iptables-restore's):\n%s", d)
	}
}

// kernelRuleset prints the namespace's ip tables, chains and rules as the
// kernel holds them: each chain's hook, priority, type and policy, each
// rule's expressions as decoded (their data included), in order.
func kernelRuleset(t *testing.T, path string) string {
	t.Helper()
	var out strings.Builder
	err := netns.Do(path, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
		if err != nil {
			return err
		}
		for _, ch := range chains {
			fmt.Fprintf(&out, "table %s chain %s type %q", ch.Table.Name, ch.Name, ch.Type)
			if ch.Hooknum != nil {
				fmt.Fprintf(&out, " hook %d priority %d policy %d", *ch.Hooknum, *ch.Priority, *ch.Policy)
			}
			out.WriteString("\n")
			rules, err := c.GetRules(ch.Table, ch)
			if err != nil {
				return err
			}
			for _, r := range rules {
				out.WriteString("  rule")
				for _, e := range r.Exprs {
					fmt.Fprintf(&out, " %s%+v", reflect.TypeOf(e).Elem().Name(), exprValue(e))
				}
				out.WriteString("\n")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// exprValue is e as printed, with the match and target data spelled out.
func exprValue(e expr.Any) any {
	switch x := e.(type) {
	case *expr.Match:
		return fmt.Sprintf("{%s rev %d %+v}", x.Name, x.Rev, x.Info)
	case *expr.Target:
		return fmt.Sprintf("{%s rev %d %+v}", x.Name, x.Rev, x.Info)
	}
	return e
}
