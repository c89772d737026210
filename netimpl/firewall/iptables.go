package firewall

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/coreos/go-iptables/iptables"
)

// ipTables is the backend dockerd 20.10 has: the iptables tool, one exec per
// rule, through go-iptables. Each call runs on a thread inside the bound
// namespace, so the tool it execs works there.
type ipTables struct {
	mu sync.Mutex
	ns *boundNS
	// ipt runs the tool one rule at a time; made by the first that needs
	// it (tool), since go-iptables execs `iptables --version` to make one,
	// and a daemon whose rules all go in batches needs none.
	ipt     *iptables.IPTables
	iptOnce sync.Once
	iptErr  error
	hairpin bool // Options.Hairpin
	// restore is the iptables-restore of the same flavour (nf_tables or
	// legacy) as iptables, used to delete several rules at once; "" if
	// there is none.
	restore string
	// nft: restore is iptables-nft's. Then known, the rules as the last
	// batch left them, stands for an iptables-save while the namespace's
	// nf_tables generation has not moved since (iptables_batch.go).
	nft   bool
	known *knownRules
	// restoreOnly sends even a pristine namespace's first batch to
	// iptables-restore (iptables_native.go): tests compare the two.
	restoreOnly bool
	// holdSetup is Options.HoldSetup; held, Setup's batch while it is
	// not yet written (heldSetup).
	holdSetup bool
	held      *heldSetup
	reg       registry
	// What Setup found, to restore at Teardown: the FORWARD policy, and
	// which iptables-nft tables did not exist yet.
	policy     string
	madeTables []string
}

func newIPTables(o Options) (*ipTables, error) {
	ns, err := bindThreadNS(o.Exec)
	if err != nil {
		return nil, err
	}
	b := &ipTables{ns: ns, reg: newRegistry(KindIPTables), hairpin: o.Hairpin, holdSetup: o.HoldSetup}
	err = ns.do(func() error {
		b.restore, b.nft = findRestore()
		if b.restore == "" {
			// Every rule through the tool: make it now.
			return b.tool()
		}
		return nil
	})
	if err != nil {
		ns.close()
		return nil, fmt.Errorf("firewall iptables: %w", err)
	}
	return b, nil
}

func (b *ipTables) Name() string { return KindIPTables }

// tool makes b.ipt, once; what fails fails each later call too.
func (b *ipTables) tool() error {
	b.iptOnce.Do(func() {
		if b.ipt, b.iptErr = iptables.New(); b.iptErr != nil {
			b.iptErr = fmt.Errorf("firewall iptables: %w", b.iptErr)
		}
	})
	return b.iptErr
}

// Close writes a held Setup first: what Setup did is there when the
// backend lets go, as with dockerd.
func (b *ipTables) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	if b.held != nil {
		if e := b.ns.do(func() error { err = b.writeHeld(); return nil }); e != nil {
			err = e
		}
	}
	return errors.Join(err, b.ns.close())
}

// WriteHeld writes a held Setup now (see heldSetup); it writes nothing
// else and does nothing when nothing is held.
func (b *ipTables) WriteHeld() error {
	b.mu.Lock()
	held := b.held != nil
	b.mu.Unlock()
	if !held {
		return nil
	}
	return b.inNS(func() error { return nil })
}

// Setup does what dockerd does at start: FORWARD policy DROP (set when it
// turns forwarding on), the DOCKER chains with their RETURN rules, the jumps
// to DOCKER-ISOLATION-STAGE-1 and DOCKER-USER at the top of FORWARD, and the
// nat jumps to DOCKER (which dockerd adds with its first network, docker0).
func (b *ipTables) Setup() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.ns.do(func() error {
		if b.restore != "" {
			return b.setupBatched(!b.reg.setup)
		}
		if !b.reg.setup {
			if err := b.recordBefore(); err != nil {
				return err
			}
		}
		if err := b.setup(!b.reg.setup); err != nil {
			if !b.reg.setup {
				b.teardown() // undo; the error that counts is the first one
			}
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("firewall iptables: setup: %w", err)
	}
	b.reg.setup = true
	return nil
}

// setupBatched is Setup with at most one iptables-save and one
// iptables-restore (iptables_batch.go) instead of an exec per rule, or
// none with Options.HoldSetup (heldSetup).
func (b *ipTables) setupBatched(fresh bool) error {
	st, err := b.state()
	if err != nil {
		return err
	}
	if fresh {
		b.policy = st.chains["filter FORWARD"]
		if b.policy == "" {
			b.policy = "ACCEPT"
		}
		b.noteMadeTables()
	}
	if err := b.setupBatch(st, fresh); err != nil {
		if fresh {
			b.teardown() // undo; the error that counts is the first one
		}
		return err
	}
	return nil
}

// recordBefore notes the state Teardown must return to.
func (b *ipTables) recordBefore() error {
	if err := b.tool(); err != nil {
		return err
	}
	rules, err := b.ipt.List("filter", "FORWARD")
	if err != nil {
		return fmt.Errorf("list FORWARD: %w", err)
	}
	b.policy = "ACCEPT"
	if len(rules) > 0 {
		if f := strings.Fields(rules[0]); len(f) == 3 && f[0] == "-P" {
			b.policy = f[2]
		}
	}
	b.noteMadeTables()
	return nil
}

// noteMadeTables notes which iptables-nft tables do not exist yet.
func (b *ipTables) noteMadeTables() {
	// With iptables-nft the first rule makes an nftables table that stays
	// when the rules go; a fresh namespace has none. Note which are ours.
	// Without nf_tables in the kernel there is nothing to note.
	b.madeTables = nil
	tables, err := nftTableNames()
	if err != nil {
		return
	}
	for _, t := range []string{"filter", "nat"} {
		if !slices.Contains(tables, t) {
			b.madeTables = append(b.madeTables, t)
		}
	}
}

func (b *ipTables) setup(fresh bool) error {
	if err := b.tool(); err != nil {
		return err
	}
	if err := b.ipt.ChangePolicy("filter", "FORWARD", "DROP"); err != nil {
		return err
	}
	for _, c := range iptChains {
		// A backend's first Setup empties the DOCKER and isolation chains
		// an earlier run left, as dockerd's removeIPChains does at start;
		// DOCKER-USER belongs to the user and is kept.
		if fresh && c.chain != ChainUser {
			if err := b.ipt.ClearChain(c.table, c.chain); err != nil {
				return err
			}
			continue
		}
		ok, err := b.ipt.ChainExists(c.table, c.chain)
		if err != nil {
			return err
		}
		if !ok {
			if err := b.ipt.NewChain(c.table, c.chain); err != nil {
				return err
			}
		}
	}
	for _, r := range iptReturns {
		if err := b.ipt.AppendUnique(r.table, r.chain, r.spec...); err != nil {
			return err
		}
	}
	if err := b.ensureJumps(); err != nil {
		return err
	}
	for _, r := range []iptRule{iptNATPrerouting, natOutput(b.hairpin)} {
		if err := b.ipt.AppendUnique(r.table, r.chain, r.spec...); err != nil {
			return err
		}
	}
	return nil
}

func (b *ipTables) AddNetwork(n Network) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	ops := iptNetworkOps(n, b.hairpin)
	return b.reg.add(n, func() error {
		return b.ns.do(func() error {
			if err := b.applyAllAndJumps(ops); err != nil {
				return err
			}
			if b.hairpin {
				if err := routeLocalnet(n.Bridge); err != nil {
					b.removeAll(ops)
					return err
				}
			}
			return nil
		})
	})
}

// inNS runs fn with b.mu held on a thread in the backend's namespace,
// where the iptables tool must run, after a held Setup is written; fn's
// error comes back as it is.
func (b *ipTables) inNS(fn func() error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ns.fd < 0 {
		return ErrClosed
	}
	var err error
	e := b.ns.do(func() error { err = b.afterHeld(fn); return nil })
	if e != nil {
		return wrapErr(KindIPTables, e)
	}
	return err
}

func (b *ipTables) RemoveNetwork(n Network) error {
	return b.inNS(func() error {
		old, ok := b.reg.nets[n.Bridge]
		if !ok {
			return nil
		}
		return b.removeNetwork(old)
	})
}

// removeNetwork removes the network's ports, links and rules (the jumps
// stay, as with dockerd), using the settings it was added with, in one
// batch: one iptables-restore for all, rather than one for each port and
// link and one for the network.
func (b *ipTables) removeNetwork(n Network) error {
	ports, links := b.reg.portsOn(n.Bridge), b.reg.linksOn(n.Bridge)
	saved := maps.Clone(b.reg.ports)
	var ops []iptOp
	for _, p := range ports {
		// A rule two of its ports share goes with the last of them.
		ops = append(ops, b.unshared(iptPortOps(p, b.hairpin), p.key())...)
		delete(b.reg.ports, p.key())
	}
	for _, l := range links {
		ops = append(ops, iptLinkOps(l)...)
	}
	ops = append(ops, iptNetworkOps(n, b.hairpin)...)
	if err := b.removeAll(ops); err != nil {
		b.reg.ports = saved
		return fmt.Errorf("firewall iptables: network %s: %w", n.Bridge, err)
	}
	b.reg.removeNetwork(n.Bridge)
	return nil
}

func (b *ipTables) AddPort(p Port) error {
	p = p.normal()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reg.add(p, func() error {
		// No -C here: a port's rules are new unless another port shares
		// them, which the registry knows, and each check is one more exec
		// of the iptables tool on the path that hostd takes most often.
		ops := b.unshared(iptPortOps(p, b.hairpin), p.key())
		return b.ns.do(func() error { return b.afterHeld(func() error { return b.applyAll(ops, false) }) })
	})
}

// unshared drops the rules another published port has too: two ports to
// the same container port share one ACCEPT and one MASQUERADE rule, as with
// dockerd (whose ProgramRule will not write a rule twice), and the shared
// rule stays until its last port goes.
func (b *ipTables) unshared(ops []iptOp, key string) []iptOp {
	var out []iptOp
	for _, op := range ops {
		shared := false
		for k, other := range b.reg.ports {
			if k == key {
				continue
			}
			for _, o := range iptPortOps(other, b.hairpin) {
				if o.equal(op.iptRule) {
					shared = true
				}
			}
		}
		if !shared {
			out = append(out, op)
		}
	}
	return out
}

func (b *ipTables) RemovePort(p Port) error {
	p = p.normal()
	return b.inNS(func() error {
		return b.reg.remove(p, func(item) error { return b.removeAll(b.unshared(iptPortOps(p, b.hairpin), p.key())) })
	})
}

func (b *ipTables) AddLink(l Link) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reg.add(l, func() error {
		return b.ns.do(func() error { return b.afterHeld(func() error { return b.applyAll(iptLinkOps(l), true) }) })
	})
}

// RemoveLink deletes the link's rules with the ports it was added with.
func (b *ipTables) RemoveLink(l Link) error {
	return b.inNS(func() error {
		return b.reg.remove(l, func(added item) error { return b.removeAll(iptLinkOps(added.(Link))) })
	})
}

// SetForwardPolicy is `iptables -P FORWARD POLICY`. Teardown still puts
// back the policy Setup found.
func (b *ipTables) SetForwardPolicy(policy string) error {
	if err := validatePolicy(policy); err != nil {
		return wrapErr(KindIPTables, err)
	}
	return b.inNS(func() error {
		if err := b.tool(); err != nil {
			return err
		}
		if err := b.ipt.ChangePolicy("filter", "FORWARD", policy); err != nil {
			return fmt.Errorf("firewall iptables: forward policy %s: %w", policy, err)
		}
		return nil
	})
}

func (b *ipTables) Teardown() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	if e := b.ns.do(func() error { err = b.afterHeld(b.teardown); return nil }); e != nil {
		return wrapErr(KindIPTables, e)
	}
	if err != nil {
		return fmt.Errorf("firewall iptables: teardown: %w", err)
	}
	return nil
}

// wrapErr prefixes a validation error with the backend; nil stays nil.
func wrapErr(kind string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("firewall %s: %w", kind, err)
}
