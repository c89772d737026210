package firewall

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// TestIPTablesMatchesDocker replays the fixture's commands (docker0 at
// start, br1, br5, web -p 8080:80 on br1) and requires iptables-save to be
// the one real dockerd 20.10 produced, rule for rule and in order. Undoing
// them must leave exactly docker0's rules, and Teardown a fresh namespace.
func TestIPTablesMatchesDocker(t *testing.T) {
	needRoot(t)
	needTool(t, "iptables-save")
	ns, _ := newNS(t, "ipt")
	fresh := iptablesSave(t, ns)
	want := loadFixture(t)

	b := newBackend(t, KindIPTables, ns)
	setUpFixture(t, b)
	if d := diffLines(iptablesSave(t, ns), want); d != "" {
		t.Fatalf("after setup, 3 networks and a port, iptables-save differs from Docker 20.10's:\n%s", d)
	}

	// Repeating any of it changes nothing.
	must(t, b.Setup())
	must(t, b.AddNetwork(br1))
	must(t, b.AddPort(web))
	if d := diffLines(iptablesSave(t, ns), want); d != "" {
		t.Fatalf("repeated calls changed the rules:\n%s", d)
	}

	must(t, b.RemovePort(web))
	must(t, b.RemoveNetwork(br5))
	must(t, b.RemoveNetwork(br1))
	if d := diffLines(iptablesSave(t, ns), onlyDocker0(want)); d != "" {
		t.Fatalf("after removing the port, br5 and br1, want docker0's rules only:\n%s", d)
	}

	must(t, b.Teardown())
	if d := diffLines(iptablesSave(t, ns), fresh); d != "" {
		t.Fatalf("after Teardown, want the ruleset of a fresh namespace:\n%s", d)
	}
	must(t, b.RemoveNetwork(docker0)) // gone already: not an error
}

// setUpFixture runs the fixture's operations on b: Setup, docker0, br1
// and br5, and web's port.
func setUpFixture(t *testing.T, b Backend) {
	t.Helper()
	must(t, b.Setup())
	for _, n := range []Network{docker0, br1, br5} {
		must(t, b.AddNetwork(n))
	}
	must(t, b.AddPort(web))
}

// optionsNetworks are the networks, link and port of the options tests: an
// internal network, one without ICC nor masquerading, docker_gwbridge, a
// link on the network without ICC and a port bound to one host address.
// setUpOptions makes a namespace with a backend of the kind (whose tool
// the test reads the rules back with), sets it up and gives it
// optionsNetworks' networks, link and port.
func setUpOptions(t *testing.T, kind, tool string) (ns string, b Backend, nets []Network) {
	t.Helper()
	needRoot(t)
	needTool(t, tool)
	ns, _ = newNS(t, kind+"opt")
	b = newBackend(t, kind, ns)
	nets, link, port := optionsNetworks()
	must(t, b.Setup())
	for _, n := range nets {
		must(t, b.AddNetwork(n))
	}
	must(t, b.AddLink(link))
	must(t, b.AddPort(port))
	return ns, b, nets
}

func optionsNetworks() (nets []Network, link Link, port Port) {
	internal := Network{Bridge: "br-int", Subnet: netip.MustParsePrefix("172.30.0.0/16"), ICC: true, Masquerade: true, Internal: true}
	noICC := Network{Bridge: "br-noicc", Subnet: netip.MustParsePrefix("172.31.0.5/16"), ICC: false, Masquerade: false}
	gw := Network{Bridge: "docker_gwbridge", Subnet: netip.MustParsePrefix("172.29.0.0/16"), ICC: true, Masquerade: true, GatewayBridge: true}
	link = Link{Bridge: noICC.Bridge, From: netip.MustParseAddr("172.31.0.2"), To: netip.MustParseAddr("172.31.0.3"),
		Ports: []PortProto{{"tcp", 80}, {"udp", 53}}}
	port = Port{Bridge: docker0.Bridge, Proto: "udp", HostIP: netip.MustParseAddr("10.99.0.1"), HostPort: 5353,
		ContainerIP: netip.MustParseAddr("172.17.0.2"), ContainerPort: 53}
	return []Network{docker0, internal, noICC, gw}, link, port
}

// optionsWant is iptables-save after Setup, optionsNetworks added in order,
// the link and the port, worked out by hand from libnetwork 20.10: the
// internal network's two DROPs in DOCKER-ISOLATION-STAGE-1 and its ICC
// ACCEPT (setupInternalNetworkRules; no isolation pair, no NAT), setIcc's
// DROP appended at the end of FORWARD for br-noicc and docker_gwbridge (which
// libnetwork creates with enable_icc=false), no POSTROUTING nor nat DOCKER
// rule without masquerading, link.go's pairs, and Forward's `-d <host ip>`.
func optionsWant() []string {
	return kernel.RulesetLines(`*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker_gwbridge -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker_gwbridge -j DOCKER
-A FORWARD -i docker_gwbridge ! -o docker_gwbridge -j ACCEPT
-A FORWARD -o br-noicc -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o br-noicc -j DOCKER
-A FORWARD -i br-noicc ! -o br-noicc -j ACCEPT
-A FORWARD -i br-int -o br-int -j ACCEPT
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A FORWARD -i br-noicc -o br-noicc -j DROP
-A FORWARD -i docker_gwbridge -o docker_gwbridge -j DROP
-A DOCKER -s 172.31.0.2/32 -d 172.31.0.3/32 -i br-noicc -o br-noicc -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER -s 172.31.0.3/32 -d 172.31.0.2/32 -i br-noicc -o br-noicc -p tcp -m tcp --sport 80 -j ACCEPT
-A DOCKER -s 172.31.0.2/32 -d 172.31.0.3/32 -i br-noicc -o br-noicc -p udp -m udp --dport 53 -j ACCEPT
-A DOCKER -s 172.31.0.3/32 -d 172.31.0.2/32 -i br-noicc -o br-noicc -p udp -m udp --sport 53 -j ACCEPT
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p udp -m udp --dport 53 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker_gwbridge ! -o docker_gwbridge -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -i br-noicc ! -o br-noicc -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 ! -s 172.30.0.0/16 -o br-int -j DROP
-A DOCKER-ISOLATION-STAGE-1 ! -d 172.30.0.0/16 -i br-int -j DROP
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker_gwbridge -j DROP
-A DOCKER-ISOLATION-STAGE-2 -o br-noicc -j DROP
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.29.0.0/16 ! -o docker_gwbridge -j MASQUERADE
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p udp -m udp --dport 53 -j MASQUERADE
-A DOCKER -i docker_gwbridge -j RETURN
-A DOCKER -i docker0 -j RETURN
-A DOCKER -d 10.99.0.1/32 ! -i docker0 -p udp -m udp --dport 5353 -j DNAT --to-destination 172.17.0.2:53
COMMIT`)
}

// TestIPTablesNetworkOptions checks optionsNetworks against optionsWant;
// removing the network without ICC takes its link along, and Teardown
// leaves nothing.
func TestIPTablesNetworkOptions(t *testing.T) {
	ns, b, nets := setUpOptions(t, KindIPTables, "iptables-save")
	if d := diffLines(iptablesSave(t, ns), optionsWant()); d != "" {
		t.Fatalf("iptables-save differs from what libnetwork 20.10 writes:\n%s", d)
	}
	must(t, b.RemoveNetwork(nets[2]))
	if got := strings.Join(iptablesSave(t, ns), "\n"); strings.Contains(got, "br-noicc") || strings.Contains(got, "172.31.") {
		t.Fatalf("rules of br-noicc or its link left:\n%s", got)
	}
	must(t, b.Teardown())
	if got := iptablesSave(t, ns); len(got) != 0 {
		t.Fatalf("after Teardown, want no rules, got:\n%s", strings.Join(got, "\n"))
	}
}

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
		st := saved()
		if got, want := ipt.known.st.rules, st.rules; !maps.Equal(got, want) {
			t.Fatalf("after %s: known rules\n%v\niptables-save\n%v", step, got, want)
		}
		if got, want := ipt.known.st.forward, st.forward; !slices.Equal(got, want) {
			t.Fatalf("after %s: known FORWARD order\n%q\niptables-save\n%q", step, got, want)
		}
		if !st.jumpsOnTop() {
			t.Fatalf("after %s: FORWARD does not start with the jumps to DOCKER-USER and DOCKER-ISOLATION-STAGE-1: %q", step, st.forward)
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
	must(t, b.AddNetwork(br5))
	same("br5")
	filter := runIn(t, ns, "iptables-save", "-t", "filter")
	if n := strings.Count(filter, jump+"\n"); n != 1 {
		t.Fatalf("br1's jump to DOCKER is there %d times, want once (checked against the foreign rule):\n%s", n, filter)
	}
}
