package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/lab"
)

// graphFlags are the options of `nslab graph`.
type graphFlags struct {
	format string
	checks string // --checks: a report of `nslab check --format json`
}

func newGraphCmd(a *app) *cobra.Command {
	var f graphFlags
	cmd := &cobra.Command{
		Use:   "graph [FILE] [--format dot|svg|mermaid|text] [--checks RESULTS.json]",
		Short: "Draw a lab: segments, hosts, addresses, and each daemon's networks and containers",
		Long: `Draw the selected lab, or a topology FILE without building it: segments, hosts
with their legs and addresses, routes, and for a running lab each docker host's
networks and containers as its daemon reports them (through its Docker API);
for a FILE, the containers it declares.

--format dot prints Graphviz dot, svg renders it with Graphviz's dot (Debian's
graphviz), mermaid prints a Mermaid flowchart (for Markdown), text a tree.
--checks draws what a report of ` + "`nslab check --format json`" + ` found failing in red:
the two ends of a path that did not answer (or answered when it must not), the
host or container of any other failed check.`,
		Example: `  nslab graph --format text
  nslab graph --format svg > lab.svg
  nslab graph fixtures/classroom.yaml --format mermaid
  nslab check fixtures/checks/E21.yaml --format json > results.json; nslab graph --checks results.json --format svg > lab.svg`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			render, ok := renderers[f.format]
			if !ok {
				return usageError(fmt.Errorf("--format %q: want dot, svg, mermaid or text", f.format))
			}
			var report *check.Report
			if f.checks != "" {
				var err error
				if report, err = readReport(f.checks); err != nil {
					return usageError(err)
				}
			}
			d, err := a.drawing(cmd.Context(), argv)
			if err != nil {
				return err
			}
			if report != nil {
				d.addFailures(report)
			}
			return render(a.stdout, d)
		},
	}
	cmd.Flags().StringVar(&f.format, "format", "dot", "dot, svg, mermaid or text")
	cmd.Flags().StringVar(&f.checks, "checks", "", "a report of `nslab check --format json`: its failures drawn in red")
	return cmd
}

func readReport(path string) (*check.Report, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--checks: %w", err)
	}
	defer fh.Close()
	r, err := check.ReadJSON(fh)
	if err != nil {
		return nil, fmt.Errorf("--checks %s: %w", path, err)
	}
	return r, nil
}

// drawing is a topology file's drawing, or the running lab's with what its
// daemons report.
func (a *app) drawing(ctx context.Context, argv []string) (*drawing, error) {
	if len(argv) == 1 {
		t, err := lab.LoadTopology(argv[0])
		if err != nil {
			return nil, usageError(err)
		}
		return fromTopology(t, ""), nil
	}
	l, err := a.openLab()
	if err != nil {
		return nil, err
	}
	d := fromTopology(l.Topology(), l.ID())
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, h := range l.Hosts() {
		if h.DockerHost() == "" {
			continue
		}
		v, err := daemonOf(ctx, h)
		if err != nil {
			// The topology's own containers are drawn instead.
			fmt.Fprintf(a.stderr, "nslab: graph: host %s: its daemon did not answer (%v); drawing the topology's containers\n", h.Name, err)
			continue
		}
		d.daemons[h.Name] = v
	}
	return d, nil
}

var renderers = map[string]func(io.Writer, *drawing) error{
	"dot":     renderDot,
	"svg":     renderSVG,
	"mermaid": renderMermaid,
	"text":    renderText,
}

// errNoDot: Graphviz is not installed.
var errNoDot = errors.New("--format svg renders with Graphviz's dot, which is not on PATH (Debian: apt-get install graphviz); --format dot prints what it would render")
