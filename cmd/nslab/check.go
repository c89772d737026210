package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/nslab/nslab/check"
)

func newCheckCmd(a *app) *cobra.Command {
	var format string
	var deadline time.Duration
	cmd := &cobra.Command{
		Use:   "check FILE [--format table|json|junit] [--deadline D]",
		Short: "Hold the lab to a file of expectations, as a teacher checks an exercise",
		Long: `Run every check of FILE (fixtures/checks/E02.yaml, ...) against the lab, in
parallel, each until it passes or its deadline passes: reachability between
hosts and containers (ping, tcp, http, dns; or that a path stays closed), the
networks each daemon reports, routes, forwarding, firewall rules, etcd keys,
interfaces and bridges' forwarding tables. Probes run from inside the hosts'
and containers' namespaces; nothing is sent from the machine itself.

The table names each failure's expectation and what was seen instead;
--format json is what ` + "`nslab graph --checks`" + ` draws, --format junit what CI
systems read. The exit status is 0 when every check passed, 1 when one failed
(or the lab could not be looked at), 2 for a bad file (FILE:LINE: field:
message, nothing run).

--deadline caps every check's deadline: a quick look at labs that do not
change meanwhile (a class's labs before the exercise), where each failing
check would otherwise try again for its whole deadline (5 s by default). A
path that must stay closed is then watched for that long only.`,
		Example: `  nslab check fixtures/checks/E02.yaml
  nslab --lab s01 check fixtures/checks/E12.yaml --format junit > s01-E12.xml
  nslab check fixtures/checks/E21.yaml --format json > results.json && nslab graph --checks results.json --format svg > lab.svg
  nslab --lab s01 check fixtures/checks/E02.yaml --deadline 1s`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			write, ok := reportWriters[format]
			if !ok {
				return usageError(fmt.Errorf("--format %q: want table, json or junit", format))
			}
			if deadline < 0 {
				return usageError(fmt.Errorf("--deadline %v: want a duration above 0", deadline))
			}
			f, err := check.Load(argv[0])
			if err != nil {
				return usageError(err)
			}
			l, err := a.openLab()
			if err != nil {
				return err
			}
			r, err := f.Run(cmd.Context(), l, check.Options{MaxDeadline: deadline})
			var fe *check.FileError
			if errors.As(err, &fe) {
				return usageError(err)
			}
			if err != nil {
				return err
			}
			if err := write(r, a.stdout); err != nil {
				return err
			}
			if !r.OK() {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "table, json or junit")
	cmd.Flags().DurationVar(&deadline, "deadline", 0, "cap every check's deadline (0: the file's)")
	return cmd
}

var reportWriters = map[string]func(*check.Report, io.Writer) error{
	"table": (*check.Report).WriteTable,
	"json":  (*check.Report).WriteJSON,
	"junit": (*check.Report).WriteJUnit,
}
