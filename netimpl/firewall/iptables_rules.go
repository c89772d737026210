package firewall

import (
	"fmt"
	"strconv"
	"strings"
)

// iptRule is one iptables rule. Specs are written in the order iptables-save
// prints them, so a rule reads the same here, in a test and in the fixture.
type iptRule struct {
	table, chain string
	spec         []string
}

func (r iptRule) String() string {
	return fmt.Sprintf("-t %s %s %s", r.table, r.chain, strings.Join(r.spec, " "))
}

func (r iptRule) equal(o iptRule) bool {
	return r.table == o.table && r.chain == o.chain && strings.Join(r.spec, " ") == strings.Join(o.spec, " ")
}

// iptOp places a rule: at the top of its chain (-I chain 1, which is how
// dockerd puts a newer network above the older ones) or at the end (-A).
type iptOp struct {
	insert bool
	iptRule
}

func (o iptOp) String() string {
	verb := "-A"
	if o.insert {
		verb = "-I"
	}
	return fmt.Sprintf("-t %s %s %s %s", o.table, verb, o.chain, strings.Join(o.spec, " "))
}

func ins(table, chain string, spec ...string) iptOp {
	return iptOp{insert: true, iptRule: iptRule{table, chain, spec}}
}

func app(table, chain string, spec ...string) iptOp {
	return iptOp{insert: false, iptRule: iptRule{table, chain, spec}}
}

// The jumps dockerd keeps at the top of FORWARD, and the ones into the nat
// DOCKER chain. From libnetwork/iptables/iptables.go (20.10) ProgramChain:
// PREROUTING `-m addrtype --dst-type LOCAL -j DOCKER`, and OUTPUT the same
// plus `! --dst 127.0.0.0/8` when the userland proxy is on (not hairpin).
var (
	iptJumpUser       = iptRule{"filter", "FORWARD", []string{"-j", ChainUser}}
	iptJumpIsolation1 = iptRule{"filter", "FORWARD", []string{"-j", ChainIsolation1}}
	iptNATPrerouting  = iptRule{"nat", "PREROUTING", []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", ChainDocker}}
	iptNATOutput      = iptRule{"nat", "OUTPUT", []string{"!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL", "-j", ChainDocker}}
	// In hairpin mode the host's own loopback goes through DOCKER too.
	iptNATOutputHairpin = iptRule{"nat", "OUTPUT", []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", ChainDocker}}
)

// natOutput is the nat OUTPUT jump of a daemon with or without hairpin.
func natOutput(hairpin bool) iptRule {
	if hairpin {
		return iptNATOutputHairpin
	}
	return iptNATOutput
}

// iptChains are the chains dockerd creates at start (bridge driver's
// setupIPChains, then DOCKER-USER in arrangeUserFilterRule), in that order.
var iptChains = []struct{ table, chain string }{
	{"nat", ChainDocker},
	{"filter", ChainDocker},
	{"filter", ChainIsolation1},
	{"filter", ChainIsolation2},
	{"filter", ChainUser},
}

// iptReturns end the isolation chains and DOCKER-USER (AddReturnRule).
var iptReturns = []iptRule{
	{"filter", ChainIsolation1, []string{"-j", "RETURN"}},
	{"filter", ChainIsolation2, []string{"-j", "RETURN"}},
	{"filter", ChainUser, []string{"-j", "RETURN"}},
}

// iptNetworkOps lists the rules of a bridge network in the order dockerd
// 20.10 writes them (libnetwork drivers/bridge/setup_ip_tables.go). The jumps
// from FORWARD are moved back to the top afterwards by the caller, as
// EnsureJumpRule does.
func iptNetworkOps(n Network, hairpin bool) []iptOp {
	br, subnet := n.Bridge, n.subnet().String()
	var ops []iptOp
	if n.Internal {
		// setupInternalNetworkRules: inDropRule, then outDropRule, both
		// inserted into DOCKER-ISOLATION-STAGE-1, so the second ends on top.
		ops = append(ops,
			ins("filter", ChainIsolation1, "!", "-d", subnet, "-i", br, "-j", "DROP"),
			ins("filter", ChainIsolation1, "!", "-s", subnet, "-o", br, "-j", "DROP"),
			iccOp(n))
		// isolateNetwork returns early for internal networks: no
		// inter-network rules.
		return ops
	}
	// setupIPTablesInternal: natRule and skipDNAT only with masquerading,
	// skipDNAT only with the userland proxy on; in hairpin mode the
	// MASQUERADE of local sources into the bridge (hpNatRule).
	if n.Masquerade {
		ops = append(ops, ins("nat", "POSTROUTING", "-s", subnet, "!", "-o", br, "-j", "MASQUERADE"))
		if !hairpin {
			ops = append(ops, ins("nat", ChainDocker, "-i", br, "-j", "RETURN"))
		}
	}
	if hairpin {
		ops = append(ops, ins("nat", "POSTROUTING", "-o", br, "-m", "addrtype", "--src-type", "LOCAL", "-j", "MASQUERADE"))
	}
	ops = append(ops,
		iccOp(n),
		// outRule: "Set Accept on all non-intercontainer outgoing packets".
		ins("filter", "FORWARD", "-i", br, "!", "-o", br, "-j", "ACCEPT"),
		// ProgramChain(filterChain): the link to DOCKER, then the
		// established rule, each inserted on top.
		ins("filter", "FORWARD", "-o", br, "-j", ChainDocker),
		ins("filter", "FORWARD", "-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"),
		// setINC: leave the bridge for another one → stage 2 → drop there.
		ins("filter", ChainIsolation1, "-i", br, "!", "-o", br, "-j", ChainIsolation2),
		ins("filter", ChainIsolation2, "-o", br, "-j", "DROP"),
	)
	return ops
}

// iccOp is setIcc: with ICC an ACCEPT inserted on top of FORWARD, without it
// a DROP appended at the end (so it sits below every network's block).
func iccOp(n Network) iptOp {
	if n.icc() {
		return ins("filter", "FORWARD", "-i", n.Bridge, "-o", n.Bridge, "-j", "ACCEPT")
	}
	return app("filter", "FORWARD", "-i", n.Bridge, "-o", n.Bridge, "-j", "DROP")
}

// iptPortOps are the three rules of a published port, appended in the order
// of libnetwork/iptables ChainInfo.Forward (20.10): DNAT in nat DOCKER (not
// for traffic from the container's own bridge, which the userland proxy
// serves, unless in hairpin mode), ACCEPT in filter DOCKER, and the
// MASQUERADE of a container reaching itself through its published port.
func iptPortOps(p Port, hairpin bool) []iptOp {
	br, proto := p.Bridge, p.Proto
	cip := p.ContainerIP.String() + "/32"
	cport, hport := strconv.Itoa(int(p.ContainerPort)), strconv.Itoa(int(p.HostPort))
	var dnat []string
	if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
		dnat = append(dnat, "-d", p.HostIP.String()+"/32")
	}
	if !hairpin {
		dnat = append(dnat, "!", "-i", br)
	}
	dnat = append(dnat, "-p", proto, "-m", proto, "--dport", hport,
		"-j", "DNAT", "--to-destination", fmt.Sprintf("%s:%d", p.ContainerIP, p.ContainerPort))
	return []iptOp{
		app("nat", ChainDocker, dnat...),
		app("filter", ChainDocker, "-d", cip, "!", "-i", br, "-o", br, "-p", proto, "-m", proto, "--dport", cport, "-j", "ACCEPT"),
		app("nat", "POSTROUTING", "-s", cip, "-d", cip, "-p", proto, "-m", proto, "--dport", cport, "-j", "MASQUERADE"),
	}
}

// iptLinkOps are libnetwork's link.go rules (ChainInfo.Link, appended): for
// each port, From → To on the destination port and the answers back from it.
func iptLinkOps(l Link) []iptOp {
	from, to := l.From.String()+"/32", l.To.String()+"/32"
	var ops []iptOp
	for _, p := range l.Ports {
		port := strconv.Itoa(int(p.Port))
		ops = append(ops,
			app("filter", ChainDocker, "-s", from, "-d", to, "-i", l.Bridge, "-o", l.Bridge, "-p", p.Proto, "-m", p.Proto, "--dport", port, "-j", "ACCEPT"),
			app("filter", ChainDocker, "-s", to, "-d", from, "-i", l.Bridge, "-o", l.Bridge, "-p", p.Proto, "-m", p.Proto, "--sport", port, "-j", "ACCEPT"))
	}
	return ops
}
