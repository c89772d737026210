package lab

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// A ruleset block is one table of a dump: an iptables-save "*filter" ...
// "COMMIT" section, or an nft "table ip filter { ... }".
type rulesetBlock struct {
	raw   string   // as dumped, to restore
	lines []string // without counters and comments, to compare
}

// iptablesBlocks splits an iptables-save dump by table.
func iptablesBlocks(dump string) map[string]rulesetBlock {
	return splitBlocks(dump, "COMMIT", func(l string) string {
		if strings.HasPrefix(l, "*") {
			return l[1:]
		}
		return ""
	})
}

// nftBlocks splits an `nft list ruleset` dump by table, keyed "FAMILY
// NAME".
func nftBlocks(dump string) map[string]rulesetBlock {
	return splitBlocks(dump, "}", func(l string) string {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "table" {
			return f[1] + " " + f[2]
		}
		return ""
	})
}

// splitBlocks cuts a dump into its tables, by name: outside a table, open
// returns the name of the table a line opens ("" for none); the line end
// closes it.
func splitBlocks(dump, end string, open func(line string) string) map[string]rulesetBlock {
	out := map[string]rulesetBlock{}
	var name string
	var raw strings.Builder
	for _, l := range strings.Split(dump, "\n") {
		if name == "" {
			if name = open(l); name == "" {
				continue
			}
			raw.Reset()
		}
		raw.WriteString(l + "\n")
		if l == end {
			out[name] = rulesetBlock{raw: raw.String(), lines: kernel.RulesetLines(raw.String())}
			name = ""
		}
	}
	return out
}

// resetRulesets puts the firewall of the namespace at pin back to base's
// rules when its nf_tables generation moved: each iptables table that
// differs is restored whole (iptables-restore of base's section), then
// the nftables tables that still differ: one base lacks is deleted, one of
// base's that changed or went is loaded again (nft -f). Tables of
// iptables-nft are iptables' to restore; nft cannot load what it lists of
// their xtables matches.
func resetRulesets(pin string, now, base *nsState) error {
	if now.Generation == base.Generation {
		return nil
	}
	var errs []error
	for _, t := range []struct{ dump, restore string }{{"iptables", "iptables-restore"}, {"ip6tables", "ip6tables-restore"}} {
		b, n := iptablesBlocks(base.Rulesets[t.dump]), iptablesBlocks(now.Rulesets[t.dump])
		var in strings.Builder
		for name, blk := range n {
			if bb, ok := b[name]; !ok {
				in.WriteString("*" + name + "\nCOMMIT\n")
			} else if !slices.Equal(bb.lines, blk.lines) {
				in.WriteString(bb.raw)
			}
		}
		for name, bb := range b {
			if _, ok := n[name]; !ok {
				in.WriteString(bb.raw)
			}
		}
		if in.Len() > 0 {
			errs = append(errs, runIn(pin, in.String(), t.restore, "--wait"))
		}
	}
	if _, ok := base.Rulesets["nft"]; ok {
		errs = append(errs, resetNFT(pin, base.Rulesets["nft"]))
	}
	return errors.Join(errs...)
}

// resetNFT loads base's nftables tables that differ now, and deletes those
// base lacks (iptables-nft's too: a table iptables-restore emptied stays).
func resetNFT(pin, base string) error {
	dump, err := kernel.Ruleset(pin, kernel.NFT)
	if err != nil {
		return err
	}
	b, n := nftBlocks(base), nftBlocks(dump)
	var in strings.Builder
	for name, blk := range n {
		bb, ok := b[name]
		switch {
		case !ok:
			in.WriteString("delete table " + name + "\n")
		case !slices.Equal(bb.lines, blk.lines) && !iptablesTable(name):
			in.WriteString("delete table " + name + "\n" + bb.raw)
		}
	}
	for name, bb := range b {
		if _, ok := n[name]; !ok {
			in.WriteString(bb.raw)
		}
	}
	if in.Len() == 0 {
		return nil
	}
	return runIn(pin, in.String(), "nft", "-f", "-")
}

// iptablesTable says whether an nft table ("FAMILY NAME") is one of
// iptables-nft's: those are iptables' to restore and compare (nft lists
// the same rules differently depending on which iptables program wrote
// them, and cannot load back the xtables matches it lists).
func iptablesTable(name string) bool {
	f := strings.Fields(name)
	return len(f) == 2 && (f[0] == "ip" || f[0] == "ip6") && slices.Contains([]string{"filter", "nat", "mangle", "raw", "security"}, f[1])
}

// runIn runs a tool inside the namespace at pin with stdin as its input.
func runIn(pin, stdin string, argv ...string) error {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := netns.StartIn(pin, cmd); err != nil {
		return fmt.Errorf("%s: %w", argv[0], err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s: %w: %s\ninput:\n%s", strings.Join(argv, " "), err, bytes.TrimSpace(out.Bytes()), stdin)
	}
	return nil
}
