package lab

import (
	"net/netip"
	"strings"
	"testing"
)

// A docker host's `bridge:` is dockerd's --bip: an IPv4 host address with
// its prefix; anything else is refused at its line.
func TestBridgeField(t *testing.T) {
	const head = "segments:\n  - {name: lan0, prefix: 192.168.99.0/24}\nhosts:\n  - name: h1\n"
	topo, err := ParseTopology("b.yaml", []byte(head+"    bridge: 172.18.0.1/16\n"))
	if err != nil {
		t.Fatal(err)
	}
	if topo.Hosts[0].Bridge != netip.MustParsePrefix("172.18.0.1/16") {
		t.Fatalf("bridge %v", topo.Hosts[0].Bridge)
	}
	if topo, err := ParseTopology("b.yaml", []byte(head)); err != nil || topo.Hosts[0].Bridge.IsValid() {
		t.Fatalf("no bridge: %v %v", topo, err)
	}
	for _, c := range []struct{ line, want string }{
		{"    bridge: 172.18.0.0/16\n", "b.yaml:5: hosts[0].bridge: 172.18.0.0/16 is the network or broadcast address of 172.18.0.0/16; the bridge needs a host address such as 172.18.0.1/16"},
		{"    bridge: 172.18.255.255/16\n", "b.yaml:5: hosts[0].bridge: 172.18.255.255/16 is the network or broadcast address"},
		{"    bridge: 172.18.0.1\n", `b.yaml:5: hosts[0].bridge: "172.18.0.1" is not an IPv4 address in CIDR form such as 172.18.0.1/16`},
		{"    bridge: fd00::1/64\n", `b.yaml:5: hosts[0].bridge: "fd00::1/64" is not an IPv4 address in CIDR form`},
		{"    bridge: 172.18.0.1/31\n", "b.yaml:5: hosts[0].bridge: 172.18.0.1/31: a /31 leaves no address for containers (at most /30)"},
		{"    kind: plain\n    bridge: 172.18.0.1/16\n", "b.yaml:6: hosts[0].bridge: host h1 is plain and runs no daemon; a default bridge needs kind docker"},
	} {
		_, err := ParseTopology("b.yaml", []byte(head+c.line))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.line, err, c.want)
		}
	}
}
