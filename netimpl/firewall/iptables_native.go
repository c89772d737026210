package firewall

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
)

// A daemon's first batch, in a namespace whose nf_tables never saw a
// commit (Setup's chains with docker0's rules), is written here through
// nf_tables' netlink, as iptables-nft 1.8 would write it: the same tables,
// base chains made when a rule first goes into them, and each rule the
// same expressions in the same order (interfaces, addresses, matches as
// xtables extensions, a counter, the verdict or target). iptables-save
// and every later iptables-restore read them as their own. The exec of
// iptables-restore it spares, a program that loads its libraries and
// extensions, cost hostd's start 1.6 ms of its 22 ms of CPU and 1 ms
// before it listens (BenchmarkHostdStart). A batch with anything else
// than what such a first batch holds (a policy, a deletion, a chain
// emptied, an option exprs does not know) goes to iptables-restore whole.

// nativeTable is a table as a batch leaves it: its chains (made by the
// batch or there before), and the rules of each in order, as the
// expressions they are written as.
type nativeTable struct {
	name   string
	exists bool            // the table was there before the batch
	had    map[string]bool // chains there before the batch
	full   map[string]bool // chains with rules before the batch
	made   []string        // chains the batch makes, in order
	rules  map[string][][]expr.Any
	order  []string // chains with rules, in the order first written to
}

// builtinChains are iptables-nft's base chains of the ip family (hook,
// priority, type), made when a rule first goes into one.
var builtinChains = map[string]map[string]struct {
	hook     *nftables.ChainHook
	priority *nftables.ChainPriority
	kind     nftables.ChainType
}{
	"filter": {
		"INPUT":   {nftables.ChainHookInput, nftables.ChainPriorityFilter, nftables.ChainTypeFilter},
		"FORWARD": {nftables.ChainHookForward, nftables.ChainPriorityFilter, nftables.ChainTypeFilter},
		"OUTPUT":  {nftables.ChainHookOutput, nftables.ChainPriorityFilter, nftables.ChainTypeFilter},
	},
	"nat": {
		"PREROUTING":  {nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest, nftables.ChainTypeNAT},
		"INPUT":       {nftables.ChainHookInput, nftables.ChainPriorityNATSource, nftables.ChainTypeNAT},
		"OUTPUT":      {nftables.ChainHookOutput, nftables.ChainPriorityNATDest, nftables.ChainTypeNAT},
		"POSTROUTING": {nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource, nftables.ChainTypeNAT},
	},
}

// builtinChain is the base chain name of table as iptables-nft makes it,
// with policy.
func builtinChain(table *nftables.Table, name string, policy nftables.ChainPolicy) *nftables.Chain {
	b := builtinChains[table.Name][name]
	return &nftables.Chain{Name: name, Table: table, Type: b.kind, Hooknum: b.hook, Priority: b.priority, Policy: &policy}
}

// nativePlan is bt applied to st, a pristine state (nothing but what st
// names exists): each table as the batch leaves it; false when the batch
// holds a line this file does not write.
func nativePlan(st iptState, bt *iptBatch) ([]*nativeTable, bool) {
	var tables []*nativeTable
	for _, name := range bt.order {
		if _, ok := builtinChains[name]; !ok {
			return nil, false
		}
		t := &nativeTable{name: name, had: map[string]bool{}, full: map[string]bool{}, rules: map[string][][]expr.Any{}}
		for key := range st.chains {
			if tn, chain, _ := strings.Cut(key, " "); tn == name {
				t.exists, t.had[chain] = true, true
			}
		}
		for key := range st.rules {
			if f := strings.Fields(key); len(f) >= 3 && f[0] == name {
				t.full[f[2]] = true
			}
		}
		for _, l := range bt.lines[name] {
			if !t.apply(strings.Fields(l)) {
				return nil, false
			}
		}
		tables = append(tables, t)
	}
	return tables, true
}

// apply is one line of the batch (split into fields): a user chain made,
// or a rule appended or inserted; false for anything else.
func (t *nativeTable) apply(f []string) bool {
	switch {
	case len(f) == 3 && f[1] == "-" && f[2] == "[0:0]" && strings.HasPrefix(f[0], ":"):
		chain := f[0][1:]
		if t.chainExists(chain) || builtinChains[t.name][chain].hook != nil {
			// Emptying a chain, or a built-in one's policy.
			return false
		}
		t.made = append(t.made, chain)
		return true
	case len(f) >= 3 && f[0] == "-A":
		return t.insert(f[1], -1, f[2:])
	case len(f) >= 4 && f[0] == "-I":
		at, err := strconv.Atoi(f[2])
		if err != nil || at < 1 {
			return false
		}
		return t.insert(f[1], at-1, f[3:])
	}
	return false
}

func (t *nativeTable) chainExists(chain string) bool {
	return t.had[chain] || slices.Contains(t.made, chain) || len(t.rules[chain]) > 0
}

// insert puts spec at index at of chain (-1: at the end), as iptables
// does: the chain must exist or be a built-in one, and at within it.
func (t *nativeTable) insert(chain string, at int, spec []string) bool {
	if !t.chainExists(chain) && builtinChains[t.name][chain].hook == nil {
		return false
	}
	if t.full[chain] {
		// Where rules were there before the batch, iptables-restore
		// places the new ones among them.
		return false
	}
	exprs, ok := t.exprs(spec)
	if !ok {
		return false
	}
	rules := t.rules[chain]
	if at < 0 {
		at = len(rules)
	}
	if at > len(rules) {
		return false
	}
	if _, ok := t.rules[chain]; !ok {
		t.order = append(t.order, chain)
	}
	t.rules[chain] = slices.Insert(rules, at, exprs)
	return true
}

// exprs are a rule's expressions as iptables-nft writes them: input and
// output interface, source and destination address, matches in order, a
// counter, then the verdict or target; false for an option not written
// here.
func (t *nativeTable) exprs(spec []string) ([]expr.Any, bool) {
	var iif, oif, src, dst, matches, action []expr.Any
	slots := map[string]*[]expr.Any{"-i": &iif, "-o": &oif, "-s": &src, "-d": &dst}
	neg := false
	for i := 0; i < len(spec); i++ {
		switch opt := spec[i]; opt {
		case "!":
			if neg {
				return nil, false
			}
			neg = true
			continue
		case "-i", "-o", "-s", "-d":
			if i+1 == len(spec) || *slots[opt] != nil {
				return nil, false
			}
			i++
			if opt == "-i" || opt == "-o" {
				*slots[opt] = ifaceMatch(opt == "-i", spec[i], neg)
			} else {
				*slots[opt] = addrMatch(opt == "-s", spec[i], neg)
			}
			if *slots[opt] == nil {
				return nil, false
			}
		case "-m":
			if neg || i+3 >= len(spec) {
				return nil, false
			}
			m := xtMatch(spec[i+1], spec[i+2], spec[i+3])
			if m == nil {
				return nil, false
			}
			matches = append(matches, m)
			i += 3
		case "-j":
			// The target is the spec's last field.
			if neg || i+2 != len(spec) {
				return nil, false
			}
			i++
			if action = t.verdict(spec[i]); action == nil {
				return nil, false
			}
		default:
			return nil, false
		}
		neg = false
	}
	if action == nil || neg {
		return nil, false
	}
	out := slices.Concat(iif, oif, src, dst, matches, []expr.Any{&expr.Counter{}}, action)
	return out, true
}

// ifaceMatch is -i or -o of an interface's exact name: iptables-nft
// compares the name with its terminating NUL.
func ifaceMatch(in bool, name string, neg bool) []expr.Any {
	if name == "" || len(name) >= 16 || strings.HasSuffix(name, "+") {
		return nil
	}
	key := expr.MetaKeyOIFNAME
	if in {
		key = expr.MetaKeyIIFNAME
	}
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: cmpOp(neg), Register: 1, Data: append([]byte(name), 0)},
	}
}

// addrMatch is -s or -d of a prefix on a byte boundary: iptables-nft
// loads and compares the prefix's bytes only (other prefixes take a mask,
// written by iptables-restore).
func addrMatch(src bool, cidr string, neg bool) []expr.Any {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() || p.Bits()%8 != 0 || p.Bits() == 0 || p.Masked() != p {
		return nil
	}
	offset := uint32(16)
	if src {
		offset = 12
	}
	n := uint32(p.Bits() / 8)
	a := p.Addr().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: n},
		&expr.Cmp{Op: cmpOp(neg), Register: 1, Data: a[:n]},
	}
}

func cmpOp(neg bool) expr.CmpOp {
	if neg {
		return expr.CmpOpNeq
	}
	return expr.CmpOpEq
}

// xtMatch is -m NAME OPTION VALUE as the xtables extension iptables-nft
// passes to the kernel: addrtype (revision 1) with one address type
// LOCAL, conntrack (revision 3) with --ctstate.
func xtMatch(name, option, value string) expr.Any {
	switch name {
	case "addrtype":
		// struct xt_addrtype_info_v1: source, dest (u16), flags (u32);
		// XT_ADDRTYPE_LOCAL is 1 << 2.
		info := make([]byte, 8)
		switch {
		case value != "LOCAL":
			return nil
		case option == "--src-type":
			binary.NativeEndian.PutUint16(info[0:], 1<<2)
		case option == "--dst-type":
			binary.NativeEndian.PutUint16(info[2:], 1<<2)
		default:
			return nil
		}
		return &expr.Match{Name: name, Rev: 1, Info: new(xt.Unknown(info))}
	case "conntrack":
		mask, ok := ctStates(value)
		if option != "--ctstate" || !ok {
			return nil
		}
		// struct xt_conntrack_mtinfo3 (168 bytes with its padding):
		// match_flags at 146 (XT_CONNTRACK_STATE), state_mask at 150.
		info := make([]byte, 168)
		binary.NativeEndian.PutUint16(info[146:], 1)
		binary.NativeEndian.PutUint16(info[150:], mask)
		return &expr.Match{Name: name, Rev: 3, Info: new(xt.Unknown(info))}
	}
	return nil
}

// ctStates is --ctstate's list as xt_conntrack's state mask
// (XT_CONNTRACK_STATE_BIT: 1 << (ctinfo + 1), INVALID 1 << 0).
func ctStates(list string) (uint16, bool) {
	bits := map[string]uint16{"INVALID": 1 << 0, "ESTABLISHED": 1 << 1, "RELATED": 1 << 2, "NEW": 1 << 3}
	var mask uint16
	for _, s := range strings.Split(list, ",") {
		b, ok := bits[s]
		if !ok {
			return 0, false
		}
		mask |= b
	}
	return mask, true
}

// verdict is -j TARGET: ACCEPT, DROP and RETURN as verdicts, a jump to a
// chain of the table, or MASQUERADE without options as the xtables target
// (revision 0, struct nf_nat_ipv4_multi_range_compat with one range).
func (t *nativeTable) verdict(target string) []expr.Any {
	switch target {
	case "ACCEPT":
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}
	case "DROP":
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}
	case "RETURN":
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictReturn}}
	case "MASQUERADE":
		if t.name != "nat" {
			return nil
		}
		info := make([]byte, 24)
		binary.NativeEndian.PutUint32(info, 1)
		return []expr.Any{&expr.Target{Name: target, Rev: 0, Info: new(xt.Unknown(info))}}
	}
	if t.chainExists(target) && builtinChains[t.name][target].hook == nil {
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: target}}
	}
	return nil
}

// writeNative writes the planned tables in one nf_tables transaction
// from the calling thread, inside the bound namespace.
func writeNative(tables []*nativeTable) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	for _, t := range tables {
		table := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: t.name}
		if !t.exists {
			c.AddTable(table)
		}
		chains := map[string]*nftables.Chain{}
		for _, name := range t.made {
			chains[name] = c.AddChain(&nftables.Chain{Name: name, Table: table})
		}
		for _, name := range t.order {
			ch, ok := chains[name]
			switch {
			case ok:
			case t.had[name]:
				ch = &nftables.Chain{Name: name, Table: table}
			default:
				// A built-in chain, made with its first rule.
				ch = c.AddChain(builtinChain(table, name, nftables.ChainPolicyAccept))
			}
			for _, exprs := range t.rules[name] {
				c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: exprs})
			}
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	return nil
}
