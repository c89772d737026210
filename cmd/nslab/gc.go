package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nslab/nslab/lab"
)

func newGCCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "gc",
		Short: "Remove the labs whose owner is gone",
		Long: `Remove every lab under the state root whose owner process is gone (killed, even
by SIGKILL in the middle of ` + "`up`" + `): its processes, namespace pins and state
directory. Labs whose owner runs are left alone. Prints the removed ids.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			removed, err := lab.GC(context.Background(), a.root)
			for _, id := range removed {
				fmt.Fprintln(a.stdout, id)
			}
			return err
		},
	}
}
