package firewall

import (
	"regexp"
	"strings"
	"testing"
)

// forwardPolicyOf reads the FORWARD policy back from the kernel the way a
// student would: `iptables -S FORWARD`, or the FORWARD base chain of the
// nftables backend's filter table.
func forwardPolicyOf(t *testing.T, kind, ns string) string {
	t.Helper()
	if kind == KindNFTables {
		out := runIn(t, ns, "nft", "list", "chain", "ip", nftFilterTable, "FORWARD")
		m := regexp.MustCompile(`hook forward .*policy (\w+);`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no forward hook with a policy in:\n%s", out)
		}
		return strings.ToUpper(m[1])
	}
	out := runIn(t, ns, "iptables", "-S", "FORWARD")
	f := strings.Fields(strings.SplitN(out, "\n", 2)[0])
	if len(f) != 3 || f[0] != "-P" {
		t.Fatalf("iptables -S FORWARD: no policy line in:\n%s", out)
	}
	return f[2]
}

// Both backends start with Docker's DROP and express a daemon that found
// forwarding on (policy left ACCEPT) the same way; a rebuilt setup drops
// again, and a bad policy changes nothing.
func TestForwardPolicy(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		ns, b := setUpBackend(t, kind, "pol")
		if p := forwardPolicyOf(t, kind, ns); p != PolicyDrop {
			t.Fatalf("after Setup: policy %s, want DROP", p)
		}
		must(t, b.SetForwardPolicy(PolicyAccept))
		if p := forwardPolicyOf(t, kind, ns); p != PolicyAccept {
			t.Fatalf("after SetForwardPolicy(ACCEPT): policy %s", p)
		}
		if err := b.SetForwardPolicy("REJECT"); err == nil || !strings.Contains(err.Error(), `forward policy "REJECT"`) {
			t.Fatalf("SetForwardPolicy(REJECT): error %v", err)
		}
		if p := forwardPolicyOf(t, kind, ns); p != PolicyAccept {
			t.Fatalf("after a refused policy: policy %s, want ACCEPT still", p)
		}
		must(t, b.Teardown())
		must(t, b.Setup())
		if p := forwardPolicyOf(t, kind, ns); p != PolicyDrop {
			t.Fatalf("after Teardown and Setup: policy %s, want DROP", p)
		}
		must(t, b.Teardown())
	})
}
