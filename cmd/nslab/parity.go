package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nslab/nslab/parity"
)

func newParityCmd(a *app) *cobra.Command {
	var dir, format string
	cmd := &cobra.Command{
		Use:   "parity",
		Short: "Compare what the exercises looked like on hostd and on real dockerd",
		Long: `Compare, exercise by exercise, the observations the native suite (hostd) and
the reference suite (dockerd 20.10) recorded: networks' subnets and gateways,
container interfaces, MACs and addresses, routes, each host's iptables-save
and docker-proxy processes, /etc/hosts and resolv.conf, and which container
reaches which. Differences
in the reviewed list of deliberate differences are shown with their reason;
any other one makes the exit status 1. Run both suites first (make test).`,
		Example: `  nslab parity
  nslab parity --format junit > parity.xml`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(parity.Formats, format) {
				return usageError(fmt.Errorf("--format %q: want one of %s", format, strings.Join(parity.Formats, ", ")))
			}
			list, err := parity.Reviewed()
			if err != nil {
				return err
			}
			rep, err := parity.Compare(dir, list)
			if errors.Is(err, parity.ErrNoRun) {
				return fmt.Errorf("%w; `make test` runs both suites and records in test-results/parity (`nslab parity --dir test-results/parity`, or `make parity`)", err)
			}
			if err != nil {
				return err
			}
			if err := parity.WriteReport(a.stdout, rep, format); err != nil {
				return err
			}
			if n := rep.Unexplained(); n > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d unexplained differences between hostd and dockerd", n)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", parity.DefaultDir(), "directory the suites recorded their observations in ($NSLAB_PARITY_DIR)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: "+strings.Join(parity.Formats, ", "))
	return cmd
}
