package firewall

import (
	"net/netip"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The nftables backend's own tables. They are not called filter and nat so
// that they never collide with the tables iptables-nft keeps under those
// names in the same namespace.
const (
	nftFilterTable = "docker-filter"
	nftNATTable    = "docker-nat"
)

// placement says where a rule goes in its chain, mirroring dockerd's -I and
// -A (see iptNetworkOps for the order each comes from).
type placement int

const (
	placeEnd   placement = iota // -A
	placeTop                    // -I chain 1
	placeBlock                  // a network's FORWARD block: right below the jumps, above older networks
)

// nftRule is a rule before it is bound to a table and chain.
type nftRule struct {
	nat   bool // in docker-nat, else docker-filter
	chain string
	place placement
	exprs []expr.Any
}

// nftSetupRules are the base rules: the jumps at the top of FORWARD and into
// nat DOCKER, and the RETURN that ends the isolation chains and DOCKER-USER.
func nftSetupRules(hairpin bool) []nftRule {
	output := rule(ipDaddr(neq, netip.MustParsePrefix("127.0.0.0/8")), fibDaddrLocal(), counter(), jump(ChainDocker))
	if hairpin {
		output = rule(fibDaddrLocal(), counter(), jump(ChainDocker))
	}
	return []nftRule{
		{chain: "FORWARD", exprs: rule(counter(), jump(ChainUser))},
		{chain: "FORWARD", exprs: rule(counter(), jump(ChainIsolation1))},
		{chain: ChainIsolation1, exprs: rule(counter(), verdict(expr.VerdictReturn))},
		{chain: ChainIsolation2, exprs: rule(counter(), verdict(expr.VerdictReturn))},
		{chain: ChainUser, exprs: rule(counter(), verdict(expr.VerdictReturn))},
		// -m addrtype --dst-type LOCAL is `fib daddr type local`.
		{nat: true, chain: "PREROUTING", exprs: rule(fibDaddrLocal(), counter(), jump(ChainDocker))},
		{nat: true, chain: "OUTPUT", exprs: output},
	}
}

// nftNetworkRules are iptNetworkOps in nftables words, same chains, same
// places.
func nftNetworkRules(n Network, hairpin bool) []nftRule {
	br, subnet := n.Bridge, n.subnet()
	var rs []nftRule
	icc := func() {
		if n.icc() {
			rs = append(rs, nftRule{chain: "FORWARD", place: placeBlock, exprs: rule(iif(eq, br), oif(eq, br), counter(), verdict(expr.VerdictAccept))})
		} else {
			rs = append(rs, nftRule{chain: "FORWARD", place: placeEnd, exprs: rule(iif(eq, br), oif(eq, br), counter(), verdict(expr.VerdictDrop))})
		}
	}
	if n.Internal {
		rs = append(rs,
			nftRule{chain: ChainIsolation1, place: placeTop, exprs: rule(ipDaddr(neq, subnet), iif(eq, br), counter(), verdict(expr.VerdictDrop))},
			nftRule{chain: ChainIsolation1, place: placeTop, exprs: rule(ipSaddr(neq, subnet), oif(eq, br), counter(), verdict(expr.VerdictDrop))})
		icc()
		return rs
	}
	if n.Masquerade {
		rs = append(rs, nftRule{nat: true, chain: "POSTROUTING", place: placeTop, exprs: rule(ipSaddr(eq, subnet), oif(neq, br), counter(), &expr.Masq{})})
		if !hairpin {
			rs = append(rs, nftRule{nat: true, chain: ChainDocker, place: placeTop, exprs: rule(iif(eq, br), counter(), verdict(expr.VerdictReturn))})
		}
	}
	if hairpin {
		// -o <br> -m addrtype --src-type LOCAL -j MASQUERADE
		rs = append(rs, nftRule{nat: true, chain: "POSTROUTING", place: placeTop, exprs: rule(oif(eq, br), fibSaddrLocal(), counter(), &expr.Masq{})})
	}
	// The FORWARD block, top to bottom as dockerd leaves it.
	rs = append(rs,
		nftRule{chain: "FORWARD", place: placeBlock, exprs: rule(oif(eq, br), ctEstablished(), counter(), verdict(expr.VerdictAccept))},
		nftRule{chain: "FORWARD", place: placeBlock, exprs: rule(oif(eq, br), counter(), jump(ChainDocker))},
		nftRule{chain: "FORWARD", place: placeBlock, exprs: rule(iif(eq, br), oif(neq, br), counter(), verdict(expr.VerdictAccept))})
	icc()
	rs = append(rs,
		nftRule{chain: ChainIsolation1, place: placeTop, exprs: rule(iif(eq, br), oif(neq, br), counter(), jump(ChainIsolation2))},
		nftRule{chain: ChainIsolation2, place: placeTop, exprs: rule(oif(eq, br), counter(), verdict(expr.VerdictDrop))})
	return rs
}

// nftPortRules are iptPortOps: DNAT, ACCEPT, and the self-MASQUERADE.
func nftPortRules(p Port, hairpin bool) []nftRule {
	br := p.Bridge
	cip := netip.PrefixFrom(p.ContainerIP, 32)
	var dnat []expr.Any
	if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
		dnat = append(dnat, ipDaddr(eq, netip.PrefixFrom(p.HostIP, 32))...)
	}
	if !hairpin {
		dnat = append(dnat, iif(neq, br)...)
	}
	dnat = append(dnat, l4port(p.Proto, true, p.HostPort)...)
	dnat = append(dnat, counter(),
		&expr.Immediate{Register: 1, Data: p.ContainerIP.AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(p.ContainerPort)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2})
	return []nftRule{
		{nat: true, chain: ChainDocker, exprs: dnat},
		{chain: ChainDocker, exprs: rule(ipDaddr(eq, cip), iif(neq, br), oif(eq, br), l4port(p.Proto, true, p.ContainerPort), counter(), verdict(expr.VerdictAccept))},
		{nat: true, chain: "POSTROUTING", exprs: rule(ipSaddr(eq, cip), ipDaddr(eq, cip), l4port(p.Proto, true, p.ContainerPort), counter(), &expr.Masq{})},
	}
}

// nftLinkRules are iptLinkOps: per port, From → To:port and back.
func nftLinkRules(l Link) []nftRule {
	from, to := netip.PrefixFrom(l.From, 32), netip.PrefixFrom(l.To, 32)
	var rs []nftRule
	for _, p := range l.Ports {
		rs = append(rs,
			nftRule{chain: ChainDocker, exprs: rule(ipSaddr(eq, from), ipDaddr(eq, to), iif(eq, l.Bridge), oif(eq, l.Bridge), l4port(p.Proto, true, p.Port), counter(), verdict(expr.VerdictAccept))},
			nftRule{chain: ChainDocker, exprs: rule(ipSaddr(eq, to), ipDaddr(eq, from), iif(eq, l.Bridge), oif(eq, l.Bridge), l4port(p.Proto, false, p.Port), counter(), verdict(expr.VerdictAccept))})
	}
	return rs
}

const (
	eq  = expr.CmpOpEq
	neq = expr.CmpOpNeq
)

// rule flattens expression groups into one expression list.
func rule(parts ...any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		switch v := p.(type) {
		case expr.Any:
			out = append(out, v)
		case []expr.Any:
			out = append(out, v...)
		}
	}
	return out
}

// ifname is an interface name as meta iifname/oifname loads it: the full
// IFNAMSIZ bytes, NUL padded, so the comparison is exact (no prefix match).
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func iif(op expr.CmpOp, name string) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1}, &expr.Cmp{Op: op, Register: 1, Data: ifname(name)}}
}

func oif(op expr.CmpOp, name string) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1}, &expr.Cmp{Op: op, Register: 1, Data: ifname(name)}}
}

// ipSaddr and ipDaddr match an IPv4 prefix (a /32 is a plain comparison).
func ipSaddr(op expr.CmpOp, p netip.Prefix) []expr.Any { return ipAddr(12, op, p) }
func ipDaddr(op expr.CmpOp, p netip.Prefix) []expr.Any { return ipAddr(16, op, p) }

func ipAddr(offset uint32, op expr.CmpOp, p netip.Prefix) []expr.Any {
	p = p.Masked()
	es := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4}}
	if p.Bits() < 32 {
		mask := make([]byte, 4)
		for i := 0; i < p.Bits(); i++ {
			mask[i/8] |= 0x80 >> (i % 8)
		}
		es = append(es, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)})
	}
	return append(es, &expr.Cmp{Op: op, Register: 1, Data: p.Addr().AsSlice()})
}

// l4port matches the protocol and its destination (or source) port.
func l4port(proto string, dst bool, port uint16) []expr.Any {
	num := byte(unix.IPPROTO_TCP)
	if proto == "udp" {
		num = unix.IPPROTO_UDP
	}
	offset := uint32(2) // destination port; the source port is at 0
	if !dst {
		offset = 0
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: eq, Register: 1, Data: []byte{num}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: offset, Len: 2},
		&expr.Cmp{Op: eq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

// ctEstablished is -m conntrack --ctstate RELATED,ESTABLISHED.
func ctEstablished() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  make([]byte, 4)},
		&expr.Cmp{Op: neq, Register: 1, Data: make([]byte, 4)},
	}
}

// fibSaddrLocal is -m addrtype --src-type LOCAL.
func fibSaddrLocal() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagSADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: eq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// fibDaddrLocal is -m addrtype --dst-type LOCAL.
func fibDaddrLocal() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: eq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

func counter() expr.Any                   { return &expr.Counter{} }
func jump(chain string) expr.Any          { return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain} }
func verdict(k expr.VerdictKind) expr.Any { return &expr.Verdict{Kind: k} }
