package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/nslab/nslab/lab"
)

// resetTimeout bounds a reset: a lab of real dockerds that made networks
// has them started again.
const resetTimeout = 2 * time.Minute

func newResetCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Put a lab back to how up left it, without taking it down",
		Long: `Put a lab back to the state ` + "`nslab up`" + ` made, without taking it down: the
daemons' containers, networks, volumes, images and tags made since go (a
container of the topology comes back), the etcd cluster's keys are those up
left (its v2 tree, Docker's key space, with its values), processes started in
the hosts since are killed (the daemons and etcd members stay), namespaces
pinned since go, what was mounted or made in a host's own /run since goes (a
namespace of ip netns add, a file), as do Open vSwitch bridges made since,
and in the fabric and every host
the links, addresses, routes, policy rules, sysctls, qdiscs and firewall rules
added since go and those changed come back, link impairments too. Then the
lab is read again and compared with how up left it: reset fails, saying what
differs, if anything does. The daemons are put back to how they started (a
daemon takes address pools and published ports round-robin: a fresh one
gives 172.18.0.0/16 to the first new network again): hostd in its own
process, real dockerds that made networks or published ephemeral ports by
being started again.

A lab whose daemon or etcd member died, or one of whose links up made was
deleted, cannot be reset: take it down and up again.`,
		Example: `  nslab reset
  nslab --lab student07 reset`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := a.selectLab()
			if err != nil {
				return err
			}
			l, err := a.open(id)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), resetTimeout)
			defer cancel()
			t0 := time.Now()
			err = l.Reset(ctx)
			if errors.Is(err, lab.ErrNoBaseline) {
				return fmt.Errorf("%w; labs that `nslab up` brings up can be reset", err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s reset in %s\n", id, time.Since(t0).Round(time.Millisecond))
			return nil
		},
	}
	return cmd
}
