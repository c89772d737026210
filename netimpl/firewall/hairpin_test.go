package firewall

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// hairpinSave is what a real dockerd 20.10.24 started with
// --userland-proxy=false wrote for docker0 and `-p 80:80` of 172.17.0.2
// (iptables-save inside a lab host, nat table; E13's hairpin spec checks
// the same on both runtimes).
var hairpinSave = []string{
	"-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
	"-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER",
	"-A POSTROUTING -o docker0 -m addrtype --src-type LOCAL -j MASQUERADE",
	"-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
	"-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE",
	"-A DOCKER -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.17.0.2:80",
}

// The hairpin nft rules, as `nft list table ip docker-nat` prints them.
var hairpinNft = []string{
	"fib daddr type local counter jump DOCKER",
	"oifname \"docker0\" fib saddr type local counter masquerade",
	"ip saddr 172.17.0.0/16 oifname != \"docker0\" counter masquerade",
	"ip saddr 172.17.0.2 ip daddr 172.17.0.2 tcp dport 80 counter masquerade",
	"tcp dport 80 counter dnat to 172.17.0.2:80",
}

// With Options.Hairpin both backends write dockerd --userland-proxy=false's
// rules, let the bridge route 127/8, and take it all away again.
func TestHairpin(t *testing.T) {
	port := Port{Bridge: "docker0", Proto: "tcp", HostPort: 80, ContainerIP: netip.MustParseAddr("172.17.0.2"), ContainerPort: 80}
	eachBackend(t, func(t *testing.T, kind string) {
		ns, _ := newNS(t, "hp"+kind[:3])
		runIn(t, ns, "ip", "link", "add", "docker0", "type", "bridge")
		var b Backend
		if err := netns.Do(ns, func() (err error) { b, err = NewWithOptions(kind, Options{Hairpin: true}); return err }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		must(t, b.Setup())
		must(t, b.AddNetwork(docker0))
		must(t, b.AddPort(port))
		if got := runIn(t, ns, "sysctl", "-n", "net.ipv4.conf.docker0.route_localnet"); got != "1\n" {
			t.Errorf("route_localnet of docker0: %q, want 1", got)
		}
		var got []string
		if kind == KindIPTables {
			for _, l := range kernel.RulesetLines(runIn(t, ns, "iptables-save", "-t", "nat")) {
				if strings.HasPrefix(l, "-A ") {
					got = append(got, l)
				}
			}
			if d := diffLines(got, hairpinSave); d != "" {
				t.Fatalf("nat table differs from dockerd --userland-proxy=false's:\n%s", d)
			}
		} else {
			chains, _ := nftChains(runIn(t, ns, "nft", "list", "table", "ip", nftNATTable))
			for _, c := range []string{"PREROUTING", "OUTPUT", "POSTROUTING", ChainDocker} {
				got = append(got, chains[nftNATTable+"/"+c]...)
			}
			want := append([]string{hairpinNft[0]}, hairpinNft...)
			if d := diffLines(got, want); d != "" {
				t.Fatalf("docker-nat differs from the hairpin rules:\n%s", d)
			}
		}
		must(t, b.RemovePort(port))
		must(t, b.RemoveNetwork(docker0))
		var out string
		if kind == KindNFTables {
			out = runIn(t, ns, "nft", "list", "table", "ip", nftNATTable)
		} else {
			out = runIn(t, ns, "iptables-save", "-t", "nat")
		}
		if strings.Contains(out, "docker0") || strings.Contains(out, "172.17.") {
			t.Fatalf("rules of docker0 left after RemoveNetwork:\n%s", out)
		}
		must(t, b.Teardown())
	})
}
