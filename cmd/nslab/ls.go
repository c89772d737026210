package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nslab/nslab/lab"
)

func newLsCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the labs under the state root",
		Long: `List the labs under the state root. OWNER is the process that holds the lab
(a keeper, a foreground ` + "`nslab up`" + `, a test); "(gone)" marks a lab whose owner
died, which ` + "`nslab gc`" + ` removes.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			labs, err := lab.List(a.root)
			if err != nil {
				return err
			}
			if asJSON {
				if labs == nil {
					labs = []lab.Summary{}
				}
				return writeJSON(a.stdout, labs)
			}
			return writeLabTable(a.stdout, labs, time.Now())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

func writeLabTable(w io.Writer, labs []lab.Summary, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tHOSTS\tOWNER\tSTATE\tCREATED")
	for _, s := range labs {
		owner := strconv.Itoa(s.Owner)
		if !s.Alive {
			owner += " (gone)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, dash(s.Name), hostList(s.Hosts), owner, dash(s.State), created(s.Created, now))
	}
	return tw.Flush()
}

// hostList names the hosts, or counts them when a list would not fit a
// terminal line.
func hostList(hosts []string) string {
	s := strings.Join(hosts, ",")
	if len(s) <= 32 {
		return dash(s)
	}
	return fmt.Sprintf("%s,... (%d)", hosts[0], len(hosts))
}

func created(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Round(time.Second).String() + " ago"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
