package firewall

import (
	"errors"
	"fmt"
	"slices"

	"github.com/google/nftables"
)

// teardown removes everything, carrying on past failures so that as little
// as possible is left; it runs inside the namespace.
func (b *ipTables) teardown() error {
	if err := b.tool(); err != nil {
		return err
	}
	var errs []error
	order := slices.Clone(b.reg.order) // removeNetwork edits the registry
	for i := len(order) - 1; i >= 0; i-- {
		if err := b.removeNetwork(b.reg.nets[order[i]]); err != nil {
			errs = append(errs, err)
		}
	}
	for _, j := range []iptRule{iptJumpUser, iptJumpIsolation1, iptNATPrerouting, natOutput(b.hairpin)} {
		if err := b.remove(j); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", j, err))
		}
	}
	for i := len(iptChains) - 1; i >= 0; i-- {
		c := iptChains[i]
		if err := b.ipt.ClearAndDeleteChain(c.table, c.chain); err != nil {
			errs = append(errs, fmt.Errorf("delete chain %s %s: %w", c.table, c.chain, err))
		}
	}
	if b.policy != "" {
		if err := b.ipt.ChangePolicy("filter", "FORWARD", b.policy); err != nil {
			errs = append(errs, err)
		}
	}
	if err := b.dropEmptyTables(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		b.reg = newRegistry(KindIPTables)
	}
	return errors.Join(errs...)
}

// dropEmptyTables deletes the iptables-nft tables that Setup brought into
// being, once they hold nothing but their built-in chains with policy
// ACCEPT. iptables cannot delete a table; nftables can.
func (b *ipTables) dropEmptyTables() error {
	if len(b.madeTables) == 0 {
		return nil
	}
	var drop []string
	for _, t := range b.madeTables {
		empty, err := b.tableEmpty(t)
		if err != nil {
			return err
		}
		if empty {
			drop = append(drop, t)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	present, err := nftTableNames()
	if err != nil {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	n := 0
	for _, t := range drop {
		if slices.Contains(present, t) {
			c.DelTable(&nftables.Table{Name: t, Family: nftables.TableFamilyIPv4})
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete empty iptables-nft tables %v: %w", drop, err)
	}
	return nil
}

// tableEmpty says whether an iptables table has only built-in chains, with
// no rules and policy ACCEPT.
func (b *ipTables) tableEmpty(table string) (bool, error) {
	if err := b.tool(); err != nil {
		return false, err
	}
	chains, err := b.ipt.ListChains(table)
	if err != nil {
		return false, fmt.Errorf("list table %s: %w", table, err)
	}
	for _, c := range chains {
		lines, err := b.ipt.List(table, c)
		if err != nil {
			return false, fmt.Errorf("list %s %s: %w", table, c, err)
		}
		for _, l := range lines {
			if l != "-P "+c+" ACCEPT" {
				return false, nil
			}
		}
	}
	return true, nil
}

// nftTableNames lists the ip-family nftables tables of the current thread's
// namespace (a fresh netlink socket is born there).
func nftTableNames() ([]string, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("nftables: list tables: %w", err)
	}
	var names []string
	for _, t := range tables {
		names = append(names, t.Name)
	}
	return names, nil
}
