package firewall

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/coreos/go-iptables/iptables"
)

// The iptables backend's primitives. They run inside the bound namespace
// (the caller is in ns.do), where the tools they exec inherit it.

// ensureJumps keeps FORWARD starting with DOCKER-USER, then
// DOCKER-ISOLATION-STAGE-1, whatever was inserted since: dockerd's
// EnsureJumpRule deletes the jump and inserts it again at the top, first
// for the isolation chain (setupIPTables), then for DOCKER-USER
// (arrangeUserFilterRule).
func (b *ipTables) ensureJumps() error {
	if err := b.tool(); err != nil {
		return err
	}
	for _, j := range []iptRule{iptJumpIsolation1, iptJumpUser} {
		if err := b.remove(j); err != nil {
			return err
		}
		if err := b.ipt.Insert(j.table, j.chain, 1, j.spec...); err != nil {
			return err
		}
	}
	return nil
}

// apply writes op. With check it first asks whether the rule is there
// already (-C), as dockerd's ProgramRule does; it says whether it wrote.
func (b *ipTables) apply(op iptOp, check bool) (bool, error) {
	if err := b.tool(); err != nil {
		return false, err
	}
	if check {
		ok, err := b.ipt.Exists(op.table, op.chain, op.spec...)
		if err != nil || ok {
			return false, err
		}
	}
	if op.insert {
		return true, b.ipt.Insert(op.table, op.chain, 1, op.spec...)
	}
	return true, b.ipt.Append(op.table, op.chain, op.spec...)
}

// remove deletes a rule; a rule or chain that is gone already is fine.
func (b *ipTables) remove(r iptRule) error {
	if err := b.tool(); err != nil {
		return err
	}
	err := b.ipt.Delete(r.table, r.chain, r.spec...)
	var e *iptables.Error
	if errors.As(err, &e) && e.IsNotExist() {
		return nil
	}
	return err
}

// applyAll applies ops in order (see apply for check); when one fails it
// removes the ones it wrote before. Several ops go in one batch
// (iptables_batch.go) when there is an iptables-restore of the tool's
// flavour.
func (b *ipTables) applyAll(ops []iptOp, check bool) error {
	if len(ops) > 1 && b.restore != "" {
		done, err := b.applyAllBatch(ops, check, false)
		if err != nil {
			b.removeAll(done)
		}
		return err
	}
	return b.applyEach(ops, check)
}

// applyAllAndJumps is applyAll with the check (-C) of each op, then
// ensureJumps; when anything fails, the ops written go again.
func (b *ipTables) applyAllAndJumps(ops []iptOp) error {
	if b.restore != "" {
		done, err := b.applyAllBatch(ops, true, true)
		if err != nil {
			b.removeAll(done)
		}
		return err
	}
	if err := b.applyEach(ops, true); err != nil {
		return err
	}
	if err := b.ensureJumps(); err != nil {
		b.removeAll(ops)
		return err
	}
	return nil
}

// applyEach is applyAll with one exec of the iptables tool per rule.
func (b *ipTables) applyEach(ops []iptOp, check bool) error {
	var done []iptOp
	for _, op := range ops {
		wrote, err := b.apply(op, check)
		if err != nil {
			b.removeAll(done)
			return fmt.Errorf("%s: %w", op, err)
		}
		if wrote {
			done = append(done, op)
		}
	}
	return nil
}

// removeAll removes ops newest first, carrying on past failures. Several
// rules go through one iptables-restore when it can: deleting is where the
// iptables tool is slow, because every exec that deleted a rule then waits
// in close(2) on its netlink socket while nf_tables frees the old rules (an
// RCU grace period, ~14 ms here, against ~2 ms for a whole append), and
// iptables-restore pays that once per table instead of once per rule. When
// the batch fails (a rule was gone already, and restore is all or nothing
// per table) it deletes one rule at a time, as dockerd does.
func (b *ipTables) removeAll(ops []iptOp) error {
	rules := make([]iptRule, len(ops))
	for i, op := range ops {
		rules[len(ops)-1-i] = op.iptRule
	}
	if len(rules) > 1 && b.restore != "" && b.deleteBatch(rules) == nil {
		return nil
	}
	var errs []error
	for _, r := range rules {
		if err := b.remove(r); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", r, err))
		}
	}
	return errors.Join(errs...)
}

// deleteBatch deletes rules with one `iptables-restore --noflush`.
func (b *ipTables) deleteBatch(rules []iptRule) error {
	var bt iptBatch
	for _, r := range rules {
		bt.add(r.table, "-D "+r.chain+" "+strings.Join(r.spec, " "))
	}
	return b.applyTables(&bt)
}

// findRestore returns the path of iptables-restore when it is of the same
// flavour as iptables: mixing legacy and nf_tables would write rules that
// iptables does not see.
func findRestore() (path string, nft bool) {
	flavour := func(tool string) string {
		out, err := exec.Command(tool, "--version").Output()
		if err != nil {
			return ""
		}
		if strings.Contains(string(out), "nf_tables") {
			return "nf_tables"
		}
		return "legacy"
	}
	path, err := exec.LookPath("iptables-restore")
	if err != nil {
		return "", false
	}
	if multi := sameProgram(path, "iptables"); multi != "" {
		return path, strings.Contains(multi, "nft")
	}
	f := flavour(path)
	if f != flavour("iptables") {
		return "", false
	}
	return path, f == "nf_tables"
}

// sameProgram returns the name of the multi-call program that the restore
// tool at path and tool both link to, or "": iptables' multi-call
// programs (xtables-nft-multi, xtables-legacy-multi) are of one flavour
// each, and Debian's alternatives link both names to the same one. Then
// no exec of either to ask its flavour is needed.
func sameProgram(path, tool string) string {
	toolPath, err := exec.LookPath(tool)
	if err != nil {
		return ""
	}
	a, errA := filepath.EvalSymlinks(path)
	b, errB := filepath.EvalSymlinks(toolPath)
	if errA != nil || errB != nil || a != b || !strings.HasSuffix(filepath.Base(a), "-multi") {
		return ""
	}
	return filepath.Base(a)
}
