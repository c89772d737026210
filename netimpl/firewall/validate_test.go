package firewall

import (
	"net/netip"
	"strings"
	"testing"
)

// Validation and bookkeeping need no privileges: bad input is refused before
// any rule is written.
func TestValidation(t *testing.T) {
	if _, err := New("pf"); err == nil || !strings.Contains(err.Error(), "unknown backend") {
		t.Fatalf("New(pf): want unknown backend, got %v", err)
	}
	r := newRegistry(KindIPTables)
	if _, err := r.checkNetwork(br1); err == nil || !strings.Contains(err.Error(), "not set up") {
		t.Fatalf("network before Setup: want an error, got %v", err)
	}
	r.setup = true
	bad := []struct {
		name string
		n    Network
		want string
	}{
		{"empty bridge", Network{Subnet: br1.Subnet}, "1 to 15 bytes"},
		{"long bridge", Network{Bridge: "br-0123456789abc", Subnet: br1.Subnet}, "1 to 15 bytes"},
		{"space in bridge", Network{Bridge: "br 1", Subnet: br1.Subnet}, "invalid character"},
		{"option as bridge", Network{Bridge: "-j", Subnet: br1.Subnet}, "must not start"},
		{"no subnet", Network{Bridge: "br1"}, "IPv4 prefix"},
		{"IPv6 subnet", Network{Bridge: "br1", Subnet: netip.MustParsePrefix("fd00::/64")}, "IPv4 prefix"},
	}
	for _, c := range bad {
		if _, err := r.checkNetwork(c.n); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want error with %q, got %v", c.name, c.want, err)
		}
	}
	if present, err := r.checkNetwork(br1); err != nil || present {
		t.Fatalf("new network: present %v, err %v", present, err)
	}
	if err := r.add(br1, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if present, err := r.checkNetwork(br1); err != nil || !present {
		t.Fatalf("same network again: want present, got %v, %v", present, err)
	}
	other := br1
	other.ICC = false
	if _, err := r.checkNetwork(other); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Fatalf("same bridge, other settings: want an error, got %v", err)
	}

	badPorts := []struct {
		name string
		p    Port
		want string
	}{
		{"unknown bridge", Port{Bridge: "br-x", Proto: "tcp", HostPort: 1, ContainerIP: web.ContainerIP, ContainerPort: 1}, "no network"},
		{"sctp", Port{Bridge: br1.Bridge, Proto: "sctp", HostPort: 1, ContainerIP: web.ContainerIP, ContainerPort: 1}, "want tcp or udp"},
		{"port 0", Port{Bridge: br1.Bridge, Proto: "tcp", ContainerIP: web.ContainerIP, ContainerPort: 1}, "port 0"},
		{"outside subnet", Port{Bridge: br1.Bridge, Proto: "tcp", HostPort: 1, ContainerIP: netip.MustParseAddr("10.0.0.2"), ContainerPort: 1}, "not in"},
		{"IPv6 host", Port{Bridge: br1.Bridge, Proto: "tcp", HostIP: netip.MustParseAddr("::1"), HostPort: 1, ContainerIP: web.ContainerIP, ContainerPort: 1}, "IPv4"},
	}
	for _, c := range badPorts {
		if _, err := r.checkPort(c.p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("port %s: want error with %q, got %v", c.name, c.want, err)
		}
	}
	r.ports[web.key()] = web
	if present, err := r.checkPort(web); err != nil || !present {
		t.Fatalf("same port again: want present, got %v, %v", present, err)
	}
	clash := web
	clash.ContainerIP = netip.MustParseAddr("172.18.0.9")
	if _, err := r.checkPort(clash); err == nil || !strings.Contains(err.Error(), "already published") {
		t.Fatalf("host port taken: want an error, got %v", err)
	}
	udp := web
	udp.Proto = "udp"
	if present, err := r.checkPort(udp); err != nil || present {
		t.Fatalf("same port number over udp is another mapping: %v, %v", present, err)
	}

	l := Link{Bridge: br1.Bridge, From: netip.MustParseAddr("172.18.0.2"), To: netip.MustParseAddr("172.18.0.3"), Ports: []PortProto{{"tcp", 80}}}
	for name, bad := range map[string]Link{
		"no ports":       {Bridge: l.Bridge, From: l.From, To: l.To},
		"outside subnet": {Bridge: l.Bridge, From: l.From, To: netip.MustParseAddr("10.0.0.3"), Ports: l.Ports},
		"icmp":           {Bridge: l.Bridge, From: l.From, To: l.To, Ports: []PortProto{{"icmp", 1}}},
		"unknown bridge": {Bridge: "br-x", From: l.From, To: l.To, Ports: l.Ports},
	} {
		if _, err := r.checkLink(bad); err == nil {
			t.Errorf("link %s: want an error", name)
		}
	}
	if present, err := r.checkLink(l); err != nil || present {
		t.Fatalf("new link: %v, %v", present, err)
	}
}
