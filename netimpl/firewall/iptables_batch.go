package firewall

import (
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"

	"github.com/nslab/nslab/netns/kernel"
)

// Writing rules one exec of the iptables tool at a time costs a fork, an
// exec and a whole-table read and write per rule (and as much again for
// each -C check): at hostd's start about 45 execs for the DOCKER chains and
// docker0's rules, a third of a second. iptables-restore --noflush applies
// a whole batch in one exec, and one iptables-save tells which rules are
// there: dockerd's checks (-C) become lookups in it. The rule specs are
// written as iptables-save prints them (iptables_rules.go), so a rule is
// there exactly when its "-A CHAIN SPEC" line is.

// iptState is what iptables-save printed of the filter and nat tables: the
// chains, each builtin chain's policy, and the rules as "-A CHAIN SPEC"
// lines, by table.
type iptState struct {
	chains map[string]string // "filter FORWARD" → policy ("-" for a user chain)
	rules  map[string]bool   // "filter -A FORWARD -j DOCKER-USER"
	// forward is the filter table's FORWARD chain in order, each rule's
	// spec ("-j DOCKER-USER"): whether the jumps are on top.
	forward []string
	// pristine: nothing was ever committed to the namespace's nf_tables
	// (state read no iptables-save).
	pristine bool
}

// noRules is the state of a namespace without tables.
func noRules() iptState {
	return iptState{chains: map[string]string{}, rules: map[string]bool{}}
}

// jumpsOnTop reports whether FORWARD starts with the jumps to DOCKER-USER
// and DOCKER-ISOLATION-STAGE-1, in that order, as ensureJumps leaves it.
func (s iptState) jumpsOnTop() bool {
	top := []iptRule{iptJumpUser, iptJumpIsolation1}
	if len(s.forward) < len(top) {
		return false
	}
	for i, j := range top {
		if s.forward[i] != strings.Join(j.spec, " ") {
			return false
		}
	}
	return true
}

func (s iptState) has(r iptRule) bool {
	return s.rules[r.table+" -A "+r.chain+" "+strings.Join(r.spec, " ")]
}

func (s iptState) chainExists(table, chain string) bool {
	_, ok := s.chains[table+" "+chain]
	return ok
}

// save reads the filter and nat tables with iptables-save (of restore's
// flavour).
func (b *ipTables) save() (iptState, error) {
	st := noRules()
	out, err := exec.Command(strings.TrimSuffix(b.restore, "-restore") + "-save").Output()
	if err != nil {
		return st, fmt.Errorf("iptables-save: %w", err)
	}
	table := ""
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(l, "*"):
			table = l[1:]
		case strings.HasPrefix(l, ":"):
			if f := strings.Fields(l[1:]); len(f) >= 2 {
				st.chains[table+" "+f[0]] = f[1]
			}
		case strings.HasPrefix(l, "-A "):
			st.rules[table+" "+l] = true
			if spec, ok := strings.CutPrefix(l, "-A FORWARD "); ok && table == "filter" {
				st.forward = append(st.forward, spec)
			}
		}
	}
	return st, nil
}

// iptBatch is the input of one iptables-restore --noflush: lines per
// table, in the order they are written.
type iptBatch struct {
	order []string
	lines map[string][]string
	// below is how many jumps stand on top of FORWARD, to be kept there:
	// the batch inserts its FORWARD rules under them rather than on top.
	below int
}

// batchOn starts a batch written against st. Where FORWARD starts with
// the jumps, its rules go in under them, and the jumps need not be deleted
// and inserted again on top (ensureJumps): the order is the same, and a
// deletion in a base chain makes the kernel wait for a grace period before
// iptables-restore returns (about 10 ms, at each daemon start and each
// network made).
func batchOn(st iptState) iptBatch {
	if st.jumpsOnTop() {
		return iptBatch{below: 2}
	}
	return iptBatch{}
}

func (bt *iptBatch) add(table, line string) {
	if bt.lines == nil {
		bt.lines = map[string][]string{}
	}
	if _, ok := bt.lines[table]; !ok {
		bt.order = append(bt.order, table)
	}
	bt.lines[table] = append(bt.lines[table], line)
}

// op writes op as -I CHAIN 1 (on top; in FORWARD, under the jumps the
// batch keeps there) or -A CHAIN (at the end).
func (bt *iptBatch) op(op iptOp) {
	spec := strings.Join(op.spec, " ")
	if op.insert {
		at := 1
		if op.table == "filter" && op.chain == "FORWARD" {
			at += bt.below
		}
		bt.add(op.table, fmt.Sprintf("-I %s %d %s", op.chain, at, spec))
		return
	}
	bt.add(op.table, "-A "+op.chain+" "+spec)
}

// jumps keeps FORWARD starting with DOCKER-USER, then
// DOCKER-ISOLATION-STAGE-1, as ensureJumps does; st says which are there.
// A batch that kept them on top has nothing to write.
func (bt *iptBatch) jumps(st iptState) {
	if bt.below > 0 {
		return
	}
	for _, j := range []iptRule{iptJumpIsolation1, iptJumpUser} {
		if st.has(j) {
			bt.add(j.table, "-D "+j.chain+" "+strings.Join(j.spec, " "))
		}
		bt.add(j.table, "-I "+j.chain+" 1 "+strings.Join(j.spec, " "))
	}
}

// applyBatch runs the batch: one iptables-restore --noflush per table,
// which commits the table's lines all or none. It returns the tables
// committed, up to the first that failed.
func (b *ipTables) applyBatch(bt *iptBatch) (map[string]bool, error) {
	done := map[string]bool{}
	for _, t := range bt.order {
		cmd := exec.Command(b.restore, "--noflush", "--wait")
		cmd.Stdin = strings.NewReader(fmt.Sprintf("*%s\n%s\nCOMMIT\n", t, strings.Join(bt.lines[t], "\n")))
		if out, err := cmd.CombinedOutput(); err != nil {
			return done, fmt.Errorf("%s (table %s): %w: %s", b.restore, t, err, strings.TrimSpace(string(out)))
		}
		done[t] = true
	}
	return done, nil
}

// setupBatch is setup in one batch, written or held (heldSetup): see
// setup for what dockerd does at start.
func (b *ipTables) setupBatch(st iptState, fresh bool) error {
	bt := batchOn(st)
	if err := b.forwardDrop(&st, &bt); err != nil {
		return err
	}
	emptied := map[string]bool{}
	for _, c := range iptChains {
		// A chain line creates the chain, or empties it with --noflush.
		if fresh && c.chain != ChainUser || !st.chainExists(c.table, c.chain) {
			bt.add(c.table, ":"+c.chain+" - [0:0]")
			emptied[c.table+" "+c.chain] = true
		}
	}
	for _, r := range iptReturns {
		if emptied[r.table+" "+r.chain] || !st.has(r) {
			bt.op(iptOp{iptRule: r})
		}
	}
	bt.jumps(st)
	for _, r := range []iptRule{iptNATPrerouting, natOutput(b.hairpin)} {
		if !st.has(r) {
			bt.op(iptOp{iptRule: r})
		}
	}
	if !b.holdSetup {
		return b.applyKnown(st, &bt)
	}
	if h := b.held; h != nil {
		// Setup again before the first was written: one batch still.
		b.held = &heldSetup{st: h.st, bt: *h.bt.then(&bt), fresh: h.fresh}
		return nil
	}
	b.held = &heldSetup{st: st, bt: bt, fresh: fresh}
	return nil
}

// heldSetup is Setup's batch (with Options.HoldSetup) while it waits for
// the next batch written against the rules (applyKnown), to go into the
// same iptables-restore:
// at a daemon's start, Setup and then docker0's rules (AddNetwork) cost
// one exec of iptables-restore, not two, where each is a fork and exec of
// a program that reads its tables (about 3 ms of the 13 of hostd's start).
// A batch so merged holds the same lines in the same order, table by
// table, as the two would have; iptables-restore applies them in order.
// Every other call that touches the rules writes the held batch alone
// first (afterHeld), as do WriteHeld and Close; while it is held, state
// is what it will leave (st after bt).
type heldSetup struct {
	st    iptState // the rules Setup found
	bt    iptBatch
	fresh bool // the backend's first Setup: its failure is undone
}

// writeHeld writes a held Setup alone; nothing when none is held.
func (b *ipTables) writeHeld() error {
	if b.held == nil {
		return nil
	}
	return b.applyKnown(b.held.st, &iptBatch{})
}

// afterHeld runs fn once a held Setup is written.
func (b *ipTables) afterHeld(fn func() error) error {
	if err := b.writeHeld(); err != nil {
		return err
	}
	return fn()
}

// then is bt followed by next: each table's lines of bt, then those of
// next, in one batch.
func (bt *iptBatch) then(next *iptBatch) *iptBatch {
	out := &iptBatch{}
	for _, part := range []*iptBatch{bt, next} {
		for _, t := range part.order {
			for _, l := range part.lines[t] {
				out.add(t, l)
			}
		}
	}
	return out
}

// forwardDrop sets FORWARD's policy to DROP, as dockerd does when it turns
// forwarding on: nothing to do where it is DROP already. A policy that
// iptables-restore writes makes it wait about 10 ms for the kernel (a
// grace period), even where the batch makes the chain; a base chain made
// with its policy through nf_tables' netlink costs no wait. So in a
// namespace whose nf_tables never saw a commit, FORWARD is made here as
// iptables-nft makes it (table ip filter, type filter, hook forward,
// priority 0), and iptables-nft takes it for its own.
func (b *ipTables) forwardDrop(st *iptState, bt *iptBatch) error {
	switch {
	case st.chains["filter FORWARD"] == PolicyDrop:
		return nil
	case st.pristine && b.nft:
		c, err := nftables.New()
		if err != nil {
			return fmt.Errorf("nftables: %w", err)
		}
		t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "filter"})
		c.AddChain(builtinChain(t, "FORWARD", nftables.ChainPolicyDrop))
		if err := c.Flush(); err != nil {
			return fmt.Errorf("nftables: FORWARD with policy DROP: %w", err)
		}
		st.chains["filter FORWARD"] = PolicyDrop
		return nil
	}
	bt.add("filter", ":FORWARD DROP [0:0]")
	return nil
}

// applyKnown is applyTables of a batch written against st, the rules
// iptables-save showed (or known showed): afterwards known is what the
// batch left, for the next batch to check against without a save.
func (b *ipTables) applyKnown(st iptState, bt *iptBatch) error {
	b.known = nil
	held := b.held
	if held != nil {
		// bt was written against the state the held batch leaves.
		b.held = nil
		st, bt = held.st, held.bt.then(bt)
	}
	if err := b.write(st, bt); err != nil {
		if held != nil {
			err = b.setupFailed(held, err)
		}
		return err
	}
	if gen, ok := b.generation(); ok {
		b.known = &knownRules{gen: gen, st: st.after(bt)}
	}
	return nil
}

// setupFailed undoes a held Setup whose batch failed, as a failed Setup
// is undone (the backend's first), and says so in err.
func (b *ipTables) setupFailed(held *heldSetup, err error) error {
	if held.fresh {
		b.teardown() // undo; the error that counts is the first one
		b.reg.setup = false
	}
	return fmt.Errorf("setup: %w", err)
}

// knownRules are the rules of the filter and nat tables as of the
// namespace's nf_tables generation gen.
type knownRules struct {
	gen uint32
	st  iptState
}

// generation is the nf_tables generation of the namespace (the calling
// thread's, inside the bound one), which every committed change moves;
// false for iptables-legacy, whose changes do not.
func (b *ipTables) generation() (uint32, bool) {
	if !b.nft {
		return 0, false
	}
	gen, err := kernel.RulesetGeneration("/proc/thread-self/ns/net")
	return gen, err == nil
}

// state is what save reads, without the exec while nothing committed a
// change since the last batch (known), nor while Setup's batch is held
// (what it will leave): a daemon's start writes its chains and then
// docker0's rules, each checked against the rules there. Nor is
// there an exec in a namespace where nothing was ever committed (a fresh
// host's at its daemon's first start): it has no table to show.
func (b *ipTables) state() (iptState, error) {
	if h := b.held; h != nil {
		return h.st.after(&h.bt), nil
	}
	gen, ok := b.generation()
	if k := b.known; ok && k != nil && gen == k.gen {
		return k.st, nil
	}
	b.known = nil
	if ok && gen == kernel.PristineGeneration {
		st := noRules()
		st.pristine = true
		return st, nil
	}
	return b.save()
}

// after is the state iptables-restore --noflush leaves when it applies bt
// to s: a user chain's line makes or empties the chain (a built-in one's
// sets its policy), -A and -I add a rule, -D removes one.
func (s iptState) after(bt *iptBatch) iptState {
	out := iptState{chains: maps.Clone(s.chains), rules: maps.Clone(s.rules), forward: slices.Clone(s.forward)}
	for _, t := range bt.order {
		for _, l := range bt.lines[t] {
			f := strings.Fields(l)
			if t == "filter" && len(f) >= 2 && f[1] == "FORWARD" {
				out.forward = forwardAfter(out.forward, f)
			}
			switch {
			case strings.HasPrefix(l, ":") && len(f) >= 2:
				chain := strings.TrimPrefix(f[0], ":")
				if f[1] == "-" {
					prefix := t + " -A " + chain + " "
					for r := range out.rules {
						if strings.HasPrefix(r, prefix) {
							delete(out.rules, r)
						}
					}
				}
				out.chains[t+" "+chain] = f[1]
			case f[0] == "-A":
				out.rules[t+" "+l] = true
			case f[0] == "-I" && len(f) >= 4:
				// "-I CHAIN 1 SPEC" is there as "-A CHAIN SPEC".
				out.rules[t+" -A "+f[1]+" "+strings.Join(f[3:], " ")] = true
			case f[0] == "-D":
				delete(out.rules, t+" -A "+strings.TrimPrefix(l, "-D "))
			}
		}
	}
	return out
}

// forwardAfter is FORWARD's rules in order after the line f (split into
// fields) of the filter table: -A appends, -I CHAIN N inserts at N, -D
// removes the first rule with that spec.
func forwardAfter(forward, f []string) []string {
	switch {
	case f[0] == "-A":
		return append(forward, strings.Join(f[2:], " "))
	case f[0] == "-I" && len(f) >= 4:
		at, err := strconv.Atoi(f[2])
		if err != nil || at < 1 {
			return forward
		}
		return slices.Insert(forward, min(at-1, len(forward)), strings.Join(f[3:], " "))
	case f[0] == "-D":
		if i := slices.Index(forward, strings.Join(f[2:], " ")); i >= 0 {
			return slices.Delete(forward, i, i+1)
		}
	}
	return forward
}

// write applies bt, written against st: through nf_tables' netlink where
// st is a namespace's that never saw a commit but this backend's and every
// line is one iptables_native.go writes, else with iptables-restore. A
// netlink transaction the kernel refuses leaves nothing behind, and the
// batch goes to iptables-restore, which knows this kernel's extensions.
func (b *ipTables) write(st iptState, bt *iptBatch) error {
	if b.nft && st.pristine && !b.restoreOnly {
		if tables, ok := nativePlan(st, bt); ok && nativeWrite(tables) == nil {
			return nil
		}
	}
	return b.applyTables(bt)
}

// nativeWrite is writeNative; tests make it fail.
var nativeWrite = writeNative

// applyTables runs the batch in one iptables-restore --noflush for all its
// tables, where the caller needs no account of which table committed: a
// process less per table, which a daemon's start pays at each exec.
func (b *ipTables) applyTables(bt *iptBatch) error {
	var in strings.Builder
	for _, t := range bt.order {
		fmt.Fprintf(&in, "*%s\n%s\nCOMMIT\n", t, strings.Join(bt.lines[t], "\n"))
	}
	cmd := exec.Command(b.restore, "--noflush", "--wait")
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s (tables %s): %w: %s", b.restore, strings.Join(bt.order, ", "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// applyAllBatch is applyAll in one batch per table (with check, in one
// batch), jumps put back on top after (ensureJumps) when asked; it returns
// the ops it wrote, those of the tables committed when one failed.
func (b *ipTables) applyAllBatch(ops []iptOp, check, jumps bool) ([]iptOp, error) {
	var st iptState
	if check || jumps {
		var err error
		if st, err = b.state(); err != nil {
			return nil, err
		}
	}
	var bt iptBatch
	if jumps {
		bt = batchOn(st)
	}
	var wrote []iptOp
	for _, op := range ops {
		if check && st.has(op.iptRule) {
			continue
		}
		bt.op(op)
		wrote = append(wrote, op)
	}
	if jumps {
		bt.jumps(st)
	}
	if check {
		// Every op written was missing before: whatever of them a
		// failure left is the caller's to remove, and a remove of one
		// that is not there is no error. So all tables go in one
		// process, and all ops count as written.
		return wrote, b.applyKnown(st, &bt)
	}
	b.known = nil
	tables, err := b.applyBatch(&bt)
	var done []iptOp
	for _, op := range wrote {
		if tables[op.table] {
			done = append(done, op)
		}
	}
	return done, err
}
