package firewall

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// A rule deleted by hand (a student at the host's shell) must not make the
// removal of its port fail or leave the port's other rules behind. Removing
// another port first makes the nftables backend cache the handles, so the
// one deleted by hand is stale when its port goes; for iptables the batch
// delete fails and the one-by-one path takes over.
func TestRemoveAfterHandEdit(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		ns, b := setUpBackend(t, kind, "hand-")
		must(t, b.AddNetwork(br1))
		must(t, b.AddPort(web))
		other := Port{Bridge: br1.Bridge, Proto: "udp", HostPort: 53, ContainerIP: netip.MustParseAddr("172.18.0.9"), ContainerPort: 53}
		must(t, b.AddPort(other))
		must(t, b.RemovePort(other))
		if kind == KindIPTables {
			runIn(t, ns, "iptables", "-t", "nat", "-D", "DOCKER", "!", "-i", br1.Bridge, "-p", "tcp", "-m", "tcp", "--dport", "8080",
				"-j", "DNAT", "--to-destination", "172.18.0.2:80")
		} else {
			out := runIn(t, ns, "nft", "-a", "list", "chain", "ip", nftNATTable, ChainDocker)
			m := regexp.MustCompile(`dnat to 172\.18\.0\.2:80 .*# handle (\d+)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no DNAT rule with a handle in:\n%s", out)
			}
			runIn(t, ns, "nft", "delete", "rule", "ip", nftNATTable, ChainDocker, "handle", m[1])
		}
		must(t, b.RemovePort(web))
		if rest := ruleset(t, kind, ns); strings.Contains(rest, "172.18.0.2") {
			t.Fatalf("rules of the port left:\n%s", rest)
		}
		must(t, b.Teardown())
		if rest := ruleset(t, kind, ns); rest != "" {
			t.Fatalf("after Teardown:\n%s", rest)
		}
	})
}

// Many goroutines publishing and removing ports on one backend at once end
// with exactly the ports that were kept.
func TestConcurrentUse(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		ns, b := setUpBackend(t, kind, "conc-")
		must(t, b.AddNetwork(br1))
		const n = 16
		errs := make(chan error, 2*n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := Port{Bridge: br1.Bridge, Proto: "tcp", HostPort: uint16(9000 + i),
					ContainerIP: netip.AddrFrom4([4]byte{172, 18, 1, byte(i + 2)}), ContainerPort: 80}
				errs <- b.AddPort(p)
				if i%2 == 0 {
					errs <- b.RemovePort(p)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			must(t, err)
		}
		rest := ruleset(t, kind, ns)
		for i := 0; i < n; i++ {
			kept := strings.Contains(rest, fmt.Sprintf("172.18.1.%d:80", i+2))
			if kept != (i%2 == 1) {
				t.Errorf("port %d: DNAT present %v, want %v", 9000+i, kept, i%2 == 1)
			}
		}
		must(t, b.Teardown())
	})
}
