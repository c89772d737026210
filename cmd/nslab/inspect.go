package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

func newInspectCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect [HOST]",
		Short: "Print the lab (or one host) as the kernel has it, in JSON",
		Long: `Print the lab as the kernel has it, in JSON: the fabric's bridges and their
ports, and per host its namespace, links, addresses and routes, read through
netlink in each namespace, and the GRE tunnels its hostd made (` + "`nslab gre`" + `) with
the implementation that carries each: "kernel" or "userspace".`,
		Example: `  nslab inspect
  nslab inspect node1`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			l, err := a.openLab()
			if err != nil {
				return err
			}
			if len(argv) == 1 {
				if _, err := l.Host(argv[0]); err != nil {
					return err
				}
			}
			d, err := l.Describe(context.Background())
			if err != nil {
				return err
			}
			v := a.withTunnels(cmd.Context(), l, d)
			if len(argv) == 0 {
				return writeJSON(a.stdout, v)
			}
			for _, h := range v.Hosts {
				if h.Name == argv[0] {
					return writeJSON(a.stdout, h)
				}
			}
			return fmt.Errorf("lab %s has no host %q", l.ID(), argv[0])
		},
	}
}
