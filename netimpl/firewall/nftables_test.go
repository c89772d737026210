package firewall

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The nftables backend is held to the same reference as the iptables one:
// each iptables-save rule is translated, in a test-only and deliberately
// literal way, to the nft text it must read as, in the chain of the same
// name and at the same place.

// nftChains maps "table/chain" to its rules as `nft list ruleset` prints
// them, without counters' numbers or comments; policies maps the same keys
// to the "type … policy …;" line of base chains.
func nftChains(text string) (chains map[string][]string, policies map[string]string) {
	chains, policies = map[string][]string{}, map[string]string{}
	var table, chain string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "table "):
			table = strings.Fields(l)[2]
		case strings.HasPrefix(l, "chain "):
			chain = strings.Fields(l)[1]
			chains[table+"/"+chain] = []string{}
		case l == "}" || l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "type "):
			policies[table+"/"+chain] = l
		default:
			chains[table+"/"+chain] = append(chains[table+"/"+chain], normaliseNft(l))
		}
	}
	return chains, policies
}

var (
	nftCounter = regexp.MustCompile(`counter packets \d+ bytes \d+`)
	nftComment = regexp.MustCompile(` comment ".*"$`)
)

func normaliseNft(rule string) string {
	return nftComment.ReplaceAllString(nftCounter.ReplaceAllString(rule, "counter"), "")
}

// iptToNft translates iptables-save rules to "table/chain" → nft rules.
// Chains without rules are left out.
func iptToNft(t testing.TB, save []string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	var table string
	for _, l := range save {
		switch {
		case l == "*filter":
			table = nftFilterTable
		case l == "*nat":
			table = nftNATTable
		case strings.HasPrefix(l, "-A "):
			f := strings.Fields(l)
			rule, err := translateRule(f[2:])
			if err != nil {
				t.Fatalf("translate %q: %v", l, err)
			}
			key := table + "/" + f[1]
			out[key] = append(out[key], rule)
		}
	}
	return out
}

func translateRule(a []string) (string, error) {
	var parts []string
	neg, proto := "", ""
	addr := func(s string) string { return strings.TrimSuffix(s, "/32") }
	for i := 0; i < len(a); i++ {
		next := func() string { i++; return a[i] }
		switch a[i] {
		case "!":
			neg = "!= "
			continue
		case "-s":
			parts = append(parts, "ip saddr "+neg+addr(next()))
		case "-d":
			parts = append(parts, "ip daddr "+neg+addr(next()))
		case "-i":
			parts = append(parts, fmt.Sprintf("iifname %s%q", neg, next()))
		case "-o":
			parts = append(parts, fmt.Sprintf("oifname %s%q", neg, next()))
		case "-p":
			proto = next()
		case "-m":
			switch m := next(); m {
			case "conntrack":
				if next() != "--ctstate" || next() != "RELATED,ESTABLISHED" {
					return "", fmt.Errorf("unexpected conntrack match")
				}
				parts = append(parts, "ct state established,related")
			case "addrtype":
				if next() != "--dst-type" || next() != "LOCAL" {
					return "", fmt.Errorf("unexpected addrtype match")
				}
				parts = append(parts, "fib daddr type local")
			case proto:
			default:
				return "", fmt.Errorf("unknown match %s", m)
			}
		case "--dport":
			parts = append(parts, proto+" dport "+next())
		case "--sport":
			parts = append(parts, proto+" sport "+next())
		case "-j":
			parts = append(parts, "counter")
			switch target := next(); target {
			case "ACCEPT", "DROP", "RETURN", "MASQUERADE":
				parts = append(parts, strings.ToLower(target))
			case "DNAT":
				if next() != "--to-destination" {
					return "", fmt.Errorf("DNAT without --to-destination")
				}
				parts = append(parts, "dnat to "+next())
			default:
				parts = append(parts, "jump "+target)
			}
		default:
			return "", fmt.Errorf("unknown argument %s", a[i])
		}
		neg = ""
	}
	return strings.Join(parts, " "), nil
}

func nftRuleset(t testing.TB, ns string) string {
	t.Helper()
	return runIn(t, ns, "nft", "list", "ruleset")
}

// checkNftMatches requires the nonempty chains of the backend's tables to
// be exactly the translated ones, and FORWARD's policy to be drop.
func checkNftMatches(t *testing.T, ns string, save []string, when string) {
	t.Helper()
	text := nftRuleset(t, ns)
	got, policies := nftChains(text)
	want := iptToNft(t, save)
	keys := map[string]bool{}
	for k, v := range got {
		if len(v) > 0 {
			keys[k] = true
		}
	}
	for k := range want {
		keys[k] = true
	}
	var sorted []string
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		if d := diffLines(got[k], want[k]); d != "" {
			t.Fatalf("%s: chain %s differs from Docker's rules:\n%s\n--- nft list ruleset:\n%s", when, k, d, text)
		}
	}
	if p := policies[nftFilterTable+"/FORWARD"]; !strings.Contains(p, "hook forward") || !strings.Contains(p, "policy drop") {
		t.Fatalf("%s: FORWARD chain is %q, want a forward hook with policy drop", when, p)
	}
}

// TestNFTablesMatchesDocker runs the fixture's operations on the nftables
// backend and compares chain by chain with the fixture, translated.
func TestNFTablesMatchesDocker(t *testing.T) {
	needRoot(t)
	needTool(t, "nft")
	ns, _ := newNS(t, "nft")
	if got := nftRuleset(t, ns); strings.TrimSpace(got) != "" {
		t.Fatalf("fresh namespace has a ruleset:\n%s", got)
	}
	want := loadFixture(t)
	b := newBackend(t, KindNFTables, ns)
	setUpFixture(t, b)
	checkNftMatches(t, ns, want, "after setup, 3 networks and a port")

	must(t, b.Setup())
	must(t, b.AddNetwork(br1))
	must(t, b.AddPort(web))
	checkNftMatches(t, ns, want, "after repeating calls")

	must(t, b.RemovePort(web))
	must(t, b.RemoveNetwork(br5))
	must(t, b.RemoveNetwork(br1))
	checkNftMatches(t, ns, onlyDocker0(want), "after removing the port, br5 and br1")

	must(t, b.Teardown())
	if got := nftRuleset(t, ns); strings.TrimSpace(got) != "" {
		t.Fatalf("after Teardown, want an empty ruleset, got:\n%s", got)
	}
	// Set up again on the same backend, then a second backend in the same
	// namespace (a restarted hostd) replaces what the first one left.
	must(t, b.Setup())
	must(t, b.AddNetwork(br1))
	b2 := newBackend(t, KindNFTables, ns)
	must(t, b2.Setup())
	must(t, b2.AddNetwork(docker0))
	checkNftMatches(t, ns, onlyDocker0(want), "after a second backend's Setup")
	must(t, b2.Teardown())
	if got := nftRuleset(t, ns); strings.TrimSpace(got) != "" {
		t.Fatalf("after Teardown, want an empty ruleset, got:\n%s", got)
	}
}

// TestNFTablesNetworkOptions is TestIPTablesNetworkOptions for nftables.
func TestNFTablesNetworkOptions(t *testing.T) {
	ns, b, nets := setUpOptions(t, KindNFTables, "nft")
	checkNftMatches(t, ns, optionsWant(), "with the options networks")
	must(t, b.RemoveNetwork(nets[2]))
	if got := nftRuleset(t, ns); strings.Contains(got, "br-noicc") || strings.Contains(got, "172.31.") {
		t.Fatalf("rules of br-noicc or its link left:\n%s", got)
	}
	must(t, b.Teardown())
	if got := nftRuleset(t, ns); strings.TrimSpace(got) != "" {
		t.Fatalf("after Teardown, want an empty ruleset, got:\n%s", got)
	}
}
