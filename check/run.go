package check

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nslab/nslab/internal/yamldoc"
	"github.com/nslab/nslab/lab"
)

// Result is one check's outcome.
type Result struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Line   int    `json:"line"`
	Passed bool   `json:"passed"`
	// Expected says what passes; Seen what the last look found (for a
	// failure: what was there instead, or why nothing could be looked at).
	Expected string        `json:"expected"`
	Seen     string        `json:"seen,omitempty"`
	Tries    int           `json:"tries"`
	Duration time.Duration `json:"duration"`
	// Endpoints are the hosts and containers the check involves
	// ("node1", "node1/cm01"), the first the one it looks from.
	Endpoints []string `json:"endpoints"`
	// From and To are a reachability check's two ends, To as written (an
	// endpoint, or an address).
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// Report is the outcome of a run of a checks file against a lab.
type Report struct {
	File     string        `json:"file"`
	Exercise string        `json:"exercise,omitempty"`
	Lab      string        `json:"lab"`
	Passed   int           `json:"passed"`
	Failed   int           `json:"failed"`
	Duration time.Duration `json:"duration"`
	Results  []Result      `json:"results"`
}

// OK says every check passed.
func (r *Report) OK() bool { return r.Failed == 0 }

// Options tune a run. The zero value is usable.
type Options struct {
	// Parallel bounds how many checks run at once (default 16).
	Parallel int
	// MaxDeadline, when set, caps every check's deadline: a quick look at
	// a lab that cannot change meanwhile (a fresh one, before the
	// exercise), where a check that fails would otherwise try again until
	// its whole deadline passed. A path that must stay closed is then
	// watched for that long only.
	MaxDeadline time.Duration
}

// Validate holds the file to the lab: every host it names must be the
// lab's, and a container must be on a docker host. Problems come with the
// file's lines; nothing is run.
func (f *File) Validate(l *lab.Lab) error {
	var ps []yamldoc.Problem
	for _, c := range f.Checks {
		for _, ep := range c.spec.endpoints() {
			if ep.NetNS != "" && ep.Host == "" {
				continue
			}
			h, err := l.Host(ep.Host)
			switch {
			case err != nil:
				var names []string
				for _, h := range l.Hosts() {
					names = append(names, h.Name)
				}
				ps = append(ps, yamldoc.Problem{File: f.Path, Line: c.Line, Field: c.Kind, Message: fmt.Sprintf("%q: lab %s has no host %s (its hosts: %s)", c.Name, l.ID(), ep.Host, strings.Join(names, ", "))})
			case ep.Container != "" && h.DockerHost() == "":
				ps = append(ps, yamldoc.Problem{File: f.Path, Line: c.Line, Field: c.Kind, Message: fmt.Sprintf("%q: host %s is of kind %s and has no containers", c.Name, ep.Host, h.Spec.Kind)})
			}
		}
	}
	if len(ps) > 0 {
		return &FileError{Problems: ps}
	}
	return nil
}

// Run runs every check of the file against the lab, in parallel, and
// reports each outcome in the file's order. The error is a *FileError when
// the file does not fit the lab; a failed check is no error.
func (f *File) Run(ctx context.Context, l *lab.Lab, o Options) (*Report, error) {
	if err := f.Validate(l); err != nil {
		return nil, err
	}
	if o.Parallel <= 0 {
		o.Parallel = 16
	}
	e := newEnv(l)
	defer e.close()
	start := time.Now()
	r := &Report{File: f.Path, Exercise: f.Exercise, Lab: l.ID(), Results: make([]Result, len(f.Checks))}
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i := range f.Checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r.Results[i] = f.Checks[i].run(ctx, e, o.MaxDeadline)
		}()
	}
	wg.Wait()
	for _, res := range r.Results {
		if res.Passed {
			r.Passed++
		} else {
			r.Failed++
		}
	}
	r.Duration = time.Since(start)
	return r, nil
}

// reachKinds are the checks of a path: one that must stay closed fails for
// good at the first answer.
var reachKinds = map[string]bool{"ping": true, "tcp": true, "http": true, "dns": true}

// run looks until the check passes or its deadline (at most limit, when
// set) passes.
func (c *Check) run(ctx context.Context, e *env, limit time.Duration) Result {
	res := Result{Name: c.Name, Kind: c.Kind, Line: c.Line, Expected: c.spec.expected(c.Negate)}
	for _, ep := range c.spec.endpoints() {
		res.Endpoints = append(res.Endpoints, ep.String())
	}
	if p, ok := c.spec.(interface{ ends() path }); ok {
		res.From, res.To = p.ends().From.String(), p.ends().To.String()
	}
	deadline := c.Deadline
	if limit > 0 && limit < deadline {
		deadline = limit
	}
	start := time.Now()
	until := start.Add(deadline)
	ctx, cancel := context.WithDeadline(ctx, until.Add(5*time.Second))
	defer cancel()
	for {
		res.Tries++
		holds, final, seen, err := c.spec.look(ctx, e, until)
		switch {
		case err != nil:
			res.Seen = "could not look: " + err.Error()
		case holds != c.Negate:
			res.Passed, res.Seen = true, seen
		default:
			res.Seen = seen
			final = final || (c.Negate && holds && reachKinds[c.Kind])
		}
		if res.Passed || (err == nil && final) || !time.Now().Add(c.Interval).Before(until) || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(c.Interval):
		case <-ctx.Done():
		}
	}
	res.Duration = time.Since(start)
	return res
}
