// Command timing says where a suite run's time went, from the Ginkgo JSON
// reports the suites write (make test: test-results/native.json,
// reference.json): per suite its wall time and the specs' time summed,
// split into bringing labs up, giving them back (a reset) or taking them
// down, the probes' waiting (for answers, and through the deadlines of
// paths that must stay silent), and the rest, the exercise itself (docker
// commands and API calls, captures, checks); then the slowest specs, and
// each fixture's ups and resets.
//
//	go run ./suites/internal/timing test-results/native.json test-results/reference.json
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/nslab/nslab/scenarios"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: timing REPORT.json...")
		os.Exit(2)
	}
	for _, path := range os.Args[1:] {
		if err := show(os.Stdout, path); err != nil {
			fmt.Fprintf(os.Stderr, "timing: %s: %v\n", path, err)
			os.Exit(1)
		}
	}
}

// spec is one spec's time, split.
type spec struct {
	name          string
	proc          int
	total         time.Duration
	lab           scenarios.LabTiming
	release       time.Duration
	probes        scenarios.ProbeTiming
	hasLab, state string
}

// rest is the spec's time outside its lab and its probes: the exercise.
// Probes that ran at once count once each, so it is at least zero.
func (s spec) rest() time.Duration {
	return max(0, s.total-s.lab.Acquire-s.release-s.probes.Answered-s.probes.Silent)
}

func show(w io.Writer, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var reports []types.Report
	if err := json.Unmarshal(b, &reports); err != nil {
		return err
	}
	for _, r := range reports {
		specs := specsOf(r)
		summary(w, r, specs)
		slowest(w, specs, 15)
		fixtures(w, specs)
	}
	return nil
}

func specsOf(r types.Report) []spec {
	var out []spec
	for _, sr := range r.SpecReports {
		if sr.LeafNodeType != types.NodeTypeIt || sr.State == types.SpecStateSkipped {
			continue
		}
		s := spec{name: sr.FullText(), proc: sr.ParallelProcess, total: sr.RunTime, state: sr.State.String()}
		for _, e := range sr.ReportEntries {
			switch e.Name {
			case "lab":
				json.Unmarshal([]byte(e.Value.AsJSON), &s.lab)
				s.hasLab = "yes"
			case "lab release":
				var d time.Duration
				json.Unmarshal([]byte(e.Value.AsJSON), &d)
				s.release += d
			case "probes":
				json.Unmarshal([]byte(e.Value.AsJSON), &s.probes)
			}
		}
		out = append(out, s)
	}
	return out
}

func summary(w io.Writer, r types.Report, specs []spec) {
	var sum spec
	up, reuse, fresh := 0, 0, 0
	var upTime, resetTime, downTime time.Duration
	procs := map[int]time.Duration{}
	for _, s := range specs {
		sum.total += s.total
		sum.probes.Answered += s.probes.Answered
		sum.probes.Silent += s.probes.Silent
		procs[s.proc] += s.total
		switch s.lab.How {
		case "up":
			fresh++
			upTime += s.lab.Acquire
			downTime += s.release
		case "pool":
			up++
			upTime += s.lab.Acquire
			resetTime += s.release
		case "pool, reset":
			reuse++
			upTime += s.lab.Acquire
			resetTime += s.release
		}
	}
	var rest time.Duration
	for _, s := range specs {
		rest += s.rest()
	}
	fmt.Fprintf(w, "%s: %d specs ran in %s on %d processes; the specs' own times add up to %s\n",
		r.SuiteDescription, len(specs), r.RunTime.Round(time.Second), len(procs), sum.total.Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(what string, d time.Duration, note string) {
		fmt.Fprintf(tw, "  %s\t%s\t%4.1f%%\t%s\n", what, d.Round(100*time.Millisecond), 100*d.Seconds()/sum.total.Seconds(), note)
	}
	row("labs brought up", upTime, fmt.Sprintf("%d for the pool, %d of a spec's own; %d specs took a pooled lab", up, fresh, reuse))
	row("labs reset and given back", resetTime, fmt.Sprintf("%d resets", up+reuse))
	row("labs taken down", downTime, fmt.Sprintf("%d downs of a spec's own lab (the pool's go at the end)", fresh))
	row("probes, answered", sum.probes.Answered, "summed: probes that run at once count each")
	row("probes, silence windows", sum.probes.Silent, "summed: a path that must stay closed waits its whole deadline")
	row("the exercise (the rest)", rest, "docker commands and API calls, execs, captures, checks")
	tw.Flush()
	var ps []int
	for p := range procs {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	var busy []string
	for _, p := range ps {
		busy = append(busy, fmt.Sprintf("%d: %s", p, procs[p].Round(time.Second)))
	}
	fmt.Fprintf(w, "  busy per process: %s\n", strings.Join(busy, ", "))
}

func slowest(w io.Writer, specs []spec, n int) {
	slices.SortFunc(specs, func(a, b spec) int { return int(b.total - a.total) })
	fmt.Fprintf(w, "  the %d slowest specs (total = lab + release + probes answered + silence + the rest):\n", n)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for _, s := range specs[:min(n, len(specs))] {
		fmt.Fprintf(tw, "  %5.1fs\tlab %4.1fs (%s)\trelease %3.1fs\tanswered %4.1fs\tsilence %4.1fs\trest %4.1fs\t%s\n",
			s.total.Seconds(), s.lab.Acquire.Seconds(), s.lab.How, s.release.Seconds(), s.probes.Answered.Seconds(), s.probes.Silent.Seconds(), s.rest().Seconds(), short(s.name, 90))
	}
	tw.Flush()
}

func fixtures(w io.Writer, specs []spec) {
	type stat struct {
		ups, resets  int
		up, reset    time.Duration
		fresh, downs time.Duration
		nfresh       int
	}
	m := map[string]*stat{}
	for _, s := range specs {
		if s.hasLab == "" {
			continue
		}
		st := m[s.lab.Fixture]
		if st == nil {
			st = &stat{}
			m[s.lab.Fixture] = st
		}
		switch s.lab.How {
		case "up":
			st.nfresh++
			st.fresh += s.lab.Acquire
			st.downs += s.release
		default:
			if s.lab.How == "pool" {
				st.ups++
				st.up += s.lab.Acquire
			}
			st.resets++
			st.reset += s.release
		}
	}
	var names []string
	for f := range m {
		names = append(names, f)
	}
	slices.Sort(names)
	fmt.Fprintln(w, "  per fixture: labs brought up for the pool (mean up), resets (mean reset), labs of a spec's own (mean up, mean down):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	mean := func(d time.Duration, n int) string {
		if n == 0 {
			return "-"
		}
		return (d / time.Duration(n)).Round(10 * time.Millisecond).String()
	}
	for _, f := range names {
		st := m[f]
		fmt.Fprintf(tw, "  %s\t%d up\t%s\t%d resets\t%s\t%d own\t%s\t%s\n", f, st.ups, mean(st.up, st.ups), st.resets, mean(st.reset, st.resets), st.nfresh, mean(st.fresh, st.nfresh), mean(st.downs, st.nfresh))
	}
	tw.Flush()
	fmt.Fprintln(w)
}

func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
