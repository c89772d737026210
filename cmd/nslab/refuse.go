package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// What the CLI does with input it does not know: an unknown command, help
// topic or flag is a usage error (status 2) that names it and the nearest
// known ones, so that a script's typo fails instead of printing help with
// status 0.

// unknownCommand is the root's argument check: its only positional
// argument would be a command cobra did not find.
func unknownCommand(root *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return usageError(fmt.Errorf("unknown command %q%s (see `%s --help`)",
		args[0], didYouMean(root.SuggestionsFor(args[0]), ""), root.CommandPath()))
}

// flagError reports a flag the command does not have. On the root, words
// before the bad flag mean the command itself was not found (`nslab lnik
// --rate 1mbit`): that is the error to report.
func flagError(c *cobra.Command, err error) error {
	if !c.HasParent() && c.Flags().NArg() > 0 {
		return unknownCommand(c, c.Flags().Args())
	}
	var ne *pflag.NotExistError
	if errors.As(err, &ne) {
		// A shorthand (-x) is one letter: nothing is near it.
		if name := ne.GetSpecifiedName(); len(name) > 1 {
			err = fmt.Errorf("%w%s", err, didYouMean(nearFlags(c, name), "--"))
		}
	}
	return usageError(fmt.Errorf("%w (see `%s --help`)", err, c.CommandPath()))
}

// newHelpCmd is `nslab help [command]`. Cobra's own prints the root's
// help for a topic it does not know, with status 0.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(c *cobra.Command, args []string) error {
			root := c.Root()
			if len(args) == 0 {
				return root.Help()
			}
			target, _, err := root.Find(args)
			if err != nil || target == root {
				return unknownCommand(root, args)
			}
			return target.Help()
		},
	}
}

// didYouMean is "; did you mean A or B?", empty without suggestions.
func didYouMean(names []string, prefix string) string {
	if len(names) == 0 {
		return ""
	}
	for i, n := range names {
		names[i] = prefix + n
	}
	return "; did you mean " + strings.Join(names, " or ") + "?"
}

// nearFlags are the visible flags of c whose name starts with name or is
// within two edits of it, the rule cobra uses for commands.
func nearFlags(c *cobra.Command, name string) []string {
	var out []string
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && (strings.HasPrefix(f.Name, name) || editDistance(name, f.Name) <= 2) {
			out = append(out, f.Name)
		}
	})
	return out
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
