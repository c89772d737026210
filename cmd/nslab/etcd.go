package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/nslab/nslab/lab"
)

// etcdTimeout bounds one `nslab etcd` command: a member that restarts
// waits for a quorum of its cluster.
const etcdTimeout = 45 * time.Second

func newEtcdCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "etcd HOST stop|start|status",
		Short: "Stop, start or show the etcd member of a host",
		Long: `Stop, start or show the etcd member that the lab runs on a host (the
topology's hosts[].etcd), as a student stops and starts etcd on one machine
of a cluster to see what losing its quorum does. stop sends SIGTERM (SIGKILL after 2 s) and keeps
the member's data; start runs it again from that data and waits until it has
rejoined its cluster, which needs a quorum of the members running. status
prints whether the member runs and what its /health endpoint answers, asked
from inside the host; its exit status is 0 only for a healthy member.`,
		Example: `  nslab etcd node2 stop
  nslab exec node1 -- etcdctl endpoint health   # no leader without node2
  nslab etcd node2 start
  nslab etcd node2 status`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			host, verb := argv[0], argv[1]
			switch verb {
			case "stop", "start", "status":
			default:
				return usageError(fmt.Errorf("etcd %s %s: want stop, start or status", host, verb))
			}
			l, err := a.openLab()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), etcdTimeout)
			defer cancel()
			switch verb {
			case "stop":
				return l.StopEtcd(ctx, host)
			case "start":
				return l.StartEtcd(ctx, host)
			}
			s, err := l.EtcdStatus(ctx, host)
			if err != nil {
				return err
			}
			if asJSON {
				b, _ := json.MarshalIndent(s, "", "  ")
				fmt.Fprintln(a.stdout, string(b))
			} else {
				fmt.Fprintln(a.stdout, etcdStatusLine(s))
			}
			if !s.Healthy {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

// etcdStatusLine is one member's status as one line.
func etcdStatusLine(s lab.EtcdStatus) string {
	run := "not running"
	if s.PID != 0 {
		run = fmt.Sprintf("running (pid %d), %s", s.PID, s.Health)
	}
	return fmt.Sprintf("%s: etcd member %s %s; client %s, peer %s", s.Host, s.Member, run, s.Client, s.Peer)
}
