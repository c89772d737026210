package firewall

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
)

// nfTables keeps Docker's policy in two nftables tables of its own, written
// over one lasting netlink socket opened in the bound namespace. Each
// operation is one transaction: it applies whole or not at all.
type nfTables struct {
	mu     sync.Mutex
	conn   *nftables.Conn // nil after Close
	filter *nftables.Table
	nat    *nftables.Table
	chains []*nftables.Chain // both tables' chains, created in this order
	reg    registry
	// refs caches the handles of the rules by comment tag. Handles never
	// change, and only this backend writes its tables, so the cache stays
	// true except for rules added since the last listing (fresh false).
	refs  map[string][]nftRef
	fresh bool
	// hairpin is Options.Hairpin; ns, held only then, is where the
	// bridges' route_localnet is written.
	hairpin bool
	ns      *boundNS
}

type nftRef struct {
	chain  *nftables.Chain
	handle uint64
}

// Tags: the comment on every rule, saying what it belongs to: setup, or
// the item (network, port, link) whose rules it is (item.tag).
const tagSetup = "setup"

func newNFTables(o Options) (*nfTables, error) {
	// A lasting connection: its socket is created now, on the calling
	// thread, so it belongs to that thread's namespace for good.
	conn, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("firewall nftables: netlink: %w", err)
	}
	if _, err := conn.ListTablesOfFamily(nftables.TableFamilyIPv4); err != nil {
		conn.CloseLasting()
		return nil, fmt.Errorf("firewall nftables: list tables: %w", err)
	}
	b := &nfTables{
		conn:    conn,
		filter:  &nftables.Table{Name: nftFilterTable, Family: nftables.TableFamilyIPv4},
		nat:     &nftables.Table{Name: nftNATTable, Family: nftables.TableFamilyIPv4},
		reg:     newRegistry(KindNFTables),
		hairpin: o.Hairpin,
	}
	if o.Hairpin {
		if b.ns, err = bindThreadNS(nil); err != nil {
			conn.CloseLasting()
			return nil, err
		}
	}
	drop, accept := nftables.ChainPolicyDrop, nftables.ChainPolicyAccept
	b.chains = []*nftables.Chain{
		// FORWARD policy drop, as dockerd sets on the iptables FORWARD chain.
		{Name: "FORWARD", Table: b.filter, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &drop},
		{Name: ChainDocker, Table: b.filter},
		{Name: ChainIsolation1, Table: b.filter},
		{Name: ChainIsolation2, Table: b.filter},
		{Name: ChainUser, Table: b.filter},
		{Name: "PREROUTING", Table: b.nat, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest, Policy: &accept},
		{Name: "OUTPUT", Table: b.nat, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest, Policy: &accept},
		{Name: "POSTROUTING", Table: b.nat, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept},
		{Name: ChainDocker, Table: b.nat},
	}
	return b, nil
}

func (b *nfTables) Name() string { return KindNFTables }

func (b *nfTables) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return nil
	}
	err := b.conn.CloseLasting()
	b.conn = nil
	if e := b.ns.close(); err == nil {
		err = e
	}
	return err
}

// WriteHeld has nothing to write: each call is its own transaction.
func (b *nfTables) WriteHeld() error { return nil }

func (b *nfTables) chain(r nftRule) *nftables.Chain {
	t := b.filter
	if r.nat {
		t = b.nat
	}
	for _, c := range b.chains {
		if c.Table == t && c.Name == r.chain {
			return c
		}
	}
	panic("firewall: no chain " + t.Name + " " + r.chain) // a bug in the rule tables
}

// present lists which of our tables exist.
func (b *nfTables) present() ([]*nftables.Table, error) {
	tables, err := b.conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var ours []*nftables.Table
	for _, t := range []*nftables.Table{b.filter, b.nat} {
		if slices.ContainsFunc(tables, func(k *nftables.Table) bool { return k.Name == t.Name }) {
			ours = append(ours, t)
		}
	}
	return ours, nil
}

// Setup creates both tables, their chains and the base rules in one
// transaction. Tables left by an earlier run are replaced, as dockerd
// flushes its chains when it starts; on a backend already set up whose
// tables are there, it does nothing.
func (b *nfTables) Setup() error {
	return b.withTables("setup", func(present []*nftables.Table) error {
		if b.reg.setup && len(present) == 2 {
			return nil
		}
		for _, t := range present {
			b.conn.DelTable(t)
		}
		b.conn.AddTable(b.filter)
		b.conn.AddTable(b.nat)
		// FORWARD drops, as iptables' Setup sets it (SetForwardPolicy changes it).
		drop := nftables.ChainPolicyDrop
		b.chains[0].Policy = &drop
		for _, c := range b.chains {
			b.conn.AddChain(c)
		}
		b.queue(tagSetup, nftSetupRules(b.hairpin), 0)
		if err := b.conn.Flush(); err != nil {
			return err
		}
		b.reg = newRegistry(KindNFTables)
		b.reg.setup = true
		b.refs, b.fresh = nil, false
		return nil
	})
}

// withTables runs fn with b.mu held, given the backend's tables as the
// kernel has them now. fn's error, or the listing's, is the backend's,
// about what.
func (b *nfTables) withTables(what string, fn func(present []*nftables.Table) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return ErrClosed
	}
	present, err := b.present()
	if err == nil {
		err = fn(present)
	}
	if err != nil {
		return fmt.Errorf("firewall nftables: %s: %w", what, err)
	}
	return nil
}

// queue adds rs, tagged, to the pending transaction. anchor is the handle of
// the rule below which a FORWARD block goes.
func (b *nfTables) queue(tag string, rs []nftRule, anchor uint64) {
	ud := userdata.AppendString(nil, userdata.TypeComment, tag)
	var block []nftRule
	for _, r := range rs {
		nr := &nftables.Rule{Table: b.chain(r).Table, Chain: b.chain(r), Exprs: r.exprs, UserData: ud}
		switch r.place {
		case placeEnd:
			b.conn.AddRule(nr)
		case placeTop:
			b.conn.InsertRule(nr)
		case placeBlock:
			block = append(block, r)
		}
	}
	// Each rule added after the anchor lands right below it, so the block
	// goes in bottom first to read top to bottom.
	for i := len(block) - 1; i >= 0; i-- {
		r := block[i]
		b.conn.AddRule(&nftables.Rule{Table: b.chain(r).Table, Chain: b.chain(r), Exprs: r.exprs, UserData: ud, Position: anchor})
	}
}

// add writes rs tagged with tag in one transaction.
func (b *nfTables) add(tag string, rs []nftRule) error {
	if b.conn == nil {
		return ErrClosed
	}
	var anchor uint64
	if slices.ContainsFunc(rs, func(r nftRule) bool { return r.place == placeBlock }) {
		var err error
		if anchor, err = b.blockAnchor(); err != nil {
			return err
		}
	}
	b.queue(tag, rs, anchor)
	if err := b.conn.Flush(); err != nil {
		return err
	}
	b.fresh = false
	return nil
}

// blockAnchor is the last of the setup jumps at the top of FORWARD: newer
// networks go right below it, above older ones, as with dockerd.
func (b *nfTables) blockAnchor() (uint64, error) {
	refs, err := b.lookup(tagSetup)
	if err != nil {
		return 0, err
	}
	var h uint64
	for _, r := range refs {
		if r.chain.Table == b.filter && r.chain.Name == "FORWARD" {
			h = r.handle
		}
	}
	if h == 0 {
		return 0, errors.New("FORWARD has lost its setup jumps; run Setup again")
	}
	return h, nil
}

// lookup returns the rules carrying tag, listing the tables when rules were
// added since the last listing.
func (b *nfTables) lookup(tag string) ([]nftRef, error) {
	if !b.fresh {
		if err := b.refresh(); err != nil {
			return nil, err
		}
	}
	return b.refs[tag], nil
}

func (b *nfTables) refresh() error {
	refs := map[string][]nftRef{}
	for _, c := range b.chains {
		rules, err := b.conn.GetRules(c.Table, c)
		if err != nil {
			return fmt.Errorf("list %s %s: %w", c.Table.Name, c.Name, err)
		}
		for _, r := range rules {
			if tag, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok {
				refs[tag] = append(refs[tag], nftRef{chain: c, handle: r.Handle})
			}
		}
	}
	b.refs, b.fresh = refs, true
	return nil
}

// remove deletes every rule carrying one of tags in one transaction. If a
// cached handle turned out stale (somebody edited the table by hand), it
// lists the tables again and tries once more.
func (b *nfTables) remove(tags ...string) error {
	if b.conn == nil {
		return ErrClosed
	}
	var err error
	for try := 0; try < 2; try++ {
		if try > 0 {
			b.fresh = false
		}
		var refs []nftRef
		for _, t := range tags {
			rs, lerr := b.lookup(t)
			if lerr != nil {
				return lerr
			}
			refs = append(refs, rs...)
		}
		if len(refs) == 0 {
			return nil
		}
		for _, r := range refs {
			b.conn.DelRule(&nftables.Rule{Table: r.chain.Table, Chain: r.chain, Handle: r.handle})
		}
		if err = b.conn.Flush(); err == nil {
			for _, t := range tags {
				delete(b.refs, t)
			}
			return nil
		}
	}
	return err
}

func (b *nfTables) AddNetwork(n Network) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reg.add(n, func() error {
		if err := b.add(n.tag(), nftNetworkRules(n, b.hairpin)); err != nil {
			return err
		}
		if b.hairpin {
			if err := b.ns.do(func() error { return routeLocalnet(n.Bridge) }); err != nil {
				b.remove(n.tag())
				return err
			}
		}
		return nil
	})
}

func (b *nfTables) RemoveNetwork(n Network) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.reg.nets[n.Bridge]; !ok {
		return nil
	}
	// The network, its ports and its links go in one transaction.
	ports, links := b.reg.portsOn(n.Bridge), b.reg.linksOn(n.Bridge)
	tags := []string{n.tag()}
	for _, p := range ports {
		tags = append(tags, p.tag())
	}
	for _, l := range links {
		tags = append(tags, l.tag())
	}
	if err := b.remove(tags...); err != nil {
		return fmt.Errorf("firewall nftables: network %s: %w", n.Bridge, err)
	}
	b.reg.removeNetwork(n.Bridge)
	return nil
}

func (b *nfTables) AddPort(p Port) error {
	p = p.normal()
	return b.addItem(p, nftPortRules(p, b.hairpin))
}

func (b *nfTables) RemovePort(p Port) error { return b.removeItem(p.normal()) }

func (b *nfTables) AddLink(l Link) error { return b.addItem(l, nftLinkRules(l)) }

func (b *nfTables) RemoveLink(l Link) error { return b.removeItem(l) }

// addItem writes a port's or a link's rules under its tag.
func (b *nfTables) addItem(x item, rules []nftRule) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reg.add(x, func() error { return b.add(x.tag(), rules) })
}

// removeItem deletes the rules of a port or a link, found by their tag.
func (b *nfTables) removeItem(x removable) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reg.remove(x, func(added item) error { return b.remove(added.tag()) })
}

// SetForwardPolicy changes the policy of the FORWARD base chain, the only
// one that filters forwarded traffic in this backend's tables. A later
// Setup that rebuilds the tables sets drop again, as iptables' does.
func (b *nfTables) SetForwardPolicy(policy string) error {
	if err := validatePolicy(policy); err != nil {
		return wrapErr(KindNFTables, err)
	}
	return b.withTables("forward policy "+policy, func(present []*nftables.Table) error {
		p := nftables.ChainPolicyDrop
		if policy == PolicyAccept {
			p = nftables.ChainPolicyAccept
		}
		fwd := b.chains[0] // FORWARD, see newNFTables
		old := fwd.Policy
		fwd.Policy = &p
		if slices.Contains(present, b.filter) {
			// NEWCHAIN on an existing base chain updates its policy.
			b.conn.AddChain(fwd)
			if err := b.conn.Flush(); err != nil {
				fwd.Policy = old
				return err
			}
		}
		return nil
	})
}

// Teardown deletes both tables, and with them every chain and rule.
func (b *nfTables) Teardown() error {
	return b.withTables("teardown", func(present []*nftables.Table) error {
		for _, t := range present {
			b.conn.DelTable(t)
		}
		if err := b.conn.Flush(); err != nil {
			return err
		}
		b.reg = newRegistry(KindNFTables)
		b.refs, b.fresh = nil, false
		return nil
	})
}
