// Package parity compares what the same exercise looked like on hostd and
// on a real dockerd 20.10: the observables both expose (networks' subnets
// and gateways, container interfaces, MACs and addresses, routes, each
// host's iptables-save, /etc/hosts and resolv.conf, reachability), recorded
// by the scenario specs of each suite as normalised facts, one line each.
// A difference is a fact seen on one runtime only; the reviewed list of
// deliberate differences (deliberate.yaml) explains some, and every other
// one fails the reference suite.
package parity

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The runtimes compared, as lab names them.
const (
	Hostd   = "hostd"
	Dockerd = "dockerd"
)

// Observation is what one spec saw on one runtime at one moment.
type Observation struct {
	// Exercise is the exercise id ("E02").
	Exercise string `json:"exercise"`
	// Spec identifies the spec on every runtime: its full text and the
	// ways it drove the daemons ("docker CLI", "Docker API").
	Spec string `json:"spec"`
	// Moment is "end" for what the spec left, or the name it gave a
	// moment it recorded itself.
	Moment  string `json:"moment"`
	Runtime string `json:"runtime"`
	// Facts are normalised lines ("host1/cm01 link eth0: veth up ..."),
	// sorted; a fact may appear more than once (two veth ports).
	Facts []string `json:"facts"`
}

// Key is the same for one spec's observation on both runtimes.
func (o Observation) Key() string { return o.Exercise + " | " + o.Spec + " | " + o.Moment }

func (o Observation) fileName() string {
	sum := sha256.Sum256([]byte(o.Key()))
	return o.Exercise + "-" + hex.EncodeToString(sum[:6]) + ".json"
}

// Run describes one suite's run of observations.
type Run struct {
	Runtime string    `json:"runtime"`
	Started time.Time `json:"started"`
	// Finished is when the suite's run ended (zero while it runs).
	Finished time.Time `json:"finished,omitzero"`
}

const runFile = "run.json"

// DefaultDir is where the suites record and `nslab parity` reads:
// $NSLAB_PARITY_DIR, else nslab-parity in the temporary directory.
func DefaultDir() string {
	if d := os.Getenv("NSLAB_PARITY_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "nslab-parity")
}

// StartRun empties dir/<runtime> and stamps it: a suite's run replaces
// everything its runtime recorded before.
func StartRun(dir, runtime string) error {
	d := filepath.Join(dir, runtime)
	if err := os.RemoveAll(d); err != nil {
		return fmt.Errorf("parity: %w", err)
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return fmt.Errorf("parity: %w", err)
	}
	b, _ := json.MarshalIndent(Run{Runtime: runtime, Started: time.Now().UTC()}, "", "  ")
	return os.WriteFile(filepath.Join(d, runFile), b, 0o644)
}

// FinishRun stamps the runtime's run in dir as finished: every spec that
// records has recorded.
func FinishRun(dir, runtime string) error {
	p := filepath.Join(dir, runtime, runFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("parity: %w", err)
	}
	var run Run
	if err := json.Unmarshal(b, &run); err != nil {
		return fmt.Errorf("parity: %s: %w", p, err)
	}
	run.Finished = time.Now().UTC()
	b, _ = json.MarshalIndent(run, "", "  ")
	return os.WriteFile(p, b, 0o644)
}

// Write stores o under dir/<runtime>/, replacing an earlier observation of
// the same key.
func Write(dir string, o Observation) error {
	if o.Exercise == "" || o.Runtime == "" {
		return fmt.Errorf("parity: observation without exercise or runtime: %q", o.Key())
	}
	sort.Strings(o.Facts)
	d := filepath.Join(dir, o.Runtime)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return fmt.Errorf("parity: %w", err)
	}
	b, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(d, "."+o.fileName())
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("parity: %w", err)
	}
	return os.Rename(tmp, filepath.Join(d, o.fileName()))
}

// Load reads the run stamp and every observation of one runtime; a
// runtime that recorded nothing gives (nil, nil, fs.ErrNotExist).
func Load(dir, runtime string) (*Run, map[string]Observation, error) {
	d := filepath.Join(dir, runtime)
	b, err := os.ReadFile(filepath.Join(d, runFile))
	if err != nil {
		return nil, nil, err
	}
	var run Run
	if err := json.Unmarshal(b, &run); err != nil {
		return nil, nil, fmt.Errorf("parity: %s: %w", filepath.Join(d, runFile), err)
	}
	ents, err := os.ReadDir(d)
	if err != nil {
		return nil, nil, err
	}
	obs := map[string]Observation{}
	for _, e := range ents {
		if e.IsDir() || e.Name() == runFile || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d, e.Name()))
		if err != nil {
			return nil, nil, err
		}
		var o Observation
		if err := json.Unmarshal(b, &o); err != nil {
			return nil, nil, fmt.Errorf("parity: %s: %w", filepath.Join(d, e.Name()), err)
		}
		obs[o.Key()] = o
	}
	return &run, obs, nil
}

// Difference is a fact one runtime showed and the other did not.
type Difference struct {
	Fact string `json:"fact"`
	// Only names the runtime that showed it.
	Only string `json:"only"`
	// Reason is the deliberate-difference entry that explains it; empty
	// for an unexplained difference.
	Reason string `json:"reason,omitempty"`
	// Pending names the missing feature ("hostd:E07") when the entry
	// excuses the difference only until that feature lands.
	Pending string `json:"pending,omitempty"`
}

// Result statuses.
const (
	StatusSame      = "same"      // every fact equal
	StatusExplained = "explained" // differences, all deliberate
	StatusDiffers   = "differs"   // at least one unexplained difference
	StatusUnpaired  = "unpaired"  // observed on one runtime only
)

// Result compares one spec's observation on both runtimes.
type Result struct {
	Exercise string `json:"exercise"`
	Spec     string `json:"spec"`
	Moment   string `json:"moment"`
	Status   string `json:"status"`
	// Facts is how many facts the two observations share.
	Facts int `json:"facts"`
	// Only names the runtime of an unpaired observation.
	Only        string       `json:"only,omitempty"`
	Differences []Difference `json:"differences,omitempty"`
}

// Unexplained counts the differences no deliberate entry explains.
func (r Result) Unexplained() int {
	n := 0
	for _, d := range r.Differences {
		if d.Reason == "" {
			n++
		}
	}
	return n
}

// Report is the comparison of two runs.
type Report struct {
	Dir     string   `json:"dir"`
	Runs    []Run    `json:"runs"`
	Results []Result `json:"results"`
}

// Unexplained counts the unexplained differences of the whole report.
func (r Report) Unexplained() int {
	n := 0
	for _, res := range r.Results {
		n += res.Unexplained()
	}
	return n
}

// ErrNoRun says a runtime has recorded nothing in the directory, or that
// its suite is still running (its run is not finished).
var ErrNoRun = errors.New("no recorded run")

// Compare reads both runtimes' observations under dir and compares them,
// explaining differences with list.
func Compare(dir string, list Deliberate) (Report, error) {
	rep := Report{Dir: dir}
	all := map[string]map[string]Observation{}
	for _, rt := range []string{Hostd, Dockerd} {
		run, obs, err := Load(dir, rt)
		if errors.Is(err, fs.ErrNotExist) {
			return rep, fmt.Errorf("parity: %s: %w of %s (run its suite first)", dir, ErrNoRun, rt)
		}
		if err != nil {
			return rep, err
		}
		if run.Finished.IsZero() {
			return rep, fmt.Errorf("parity: %s: %w of %s: its suite, started %s, has not finished", dir, ErrNoRun, rt, run.Started.Format(time.RFC3339))
		}
		rep.Runs = append(rep.Runs, *run)
		all[rt] = obs
	}
	keys := map[string]bool{}
	for _, obs := range all {
		for k := range obs {
			keys[k] = true
		}
	}
	for k := range keys {
		h, hok := all[Hostd][k]
		d, dok := all[Dockerd][k]
		switch {
		case hok && dok:
			rep.Results = append(rep.Results, compareOne(h, d, list))
		case hok:
			rep.Results = append(rep.Results, Result{Exercise: h.Exercise, Spec: h.Spec, Moment: h.Moment, Status: StatusUnpaired, Only: Hostd})
		default:
			rep.Results = append(rep.Results, Result{Exercise: d.Exercise, Spec: d.Spec, Moment: d.Moment, Status: StatusUnpaired, Only: Dockerd})
		}
	}
	sort.Slice(rep.Results, func(i, j int) bool {
		a, b := rep.Results[i], rep.Results[j]
		if a.Exercise != b.Exercise {
			return a.Exercise < b.Exercise
		}
		if a.Spec != b.Spec {
			return a.Spec < b.Spec
		}
		return a.Moment < b.Moment
	})
	return rep, nil
}

// compareOne diffs two observations of one spec as multisets of facts.
func compareOne(h, d Observation, list Deliberate) Result {
	r := Result{Exercise: h.Exercise, Spec: h.Spec, Moment: h.Moment}
	count := map[string]int{}
	for _, f := range h.Facts {
		count[f]++
	}
	for _, f := range d.Facts {
		count[f]--
	}
	facts := make([]string, 0, len(count))
	for f := range count {
		facts = append(facts, f)
	}
	sort.Strings(facts)
	for _, f := range facts {
		n := count[f]
		only := Hostd
		if n < 0 {
			only, n = Dockerd, -n
		}
		d := Difference{Fact: f, Only: only}
		if e := list.Explain(h.Exercise, f, only); e != nil {
			d.Reason, d.Pending = e.Reason, e.Pending
		}
		for ; n > 0; n-- {
			r.Differences = append(r.Differences, d)
		}
	}
	r.Facts = sharedCount(h.Facts, d.Facts)
	switch {
	case len(r.Differences) == 0:
		r.Status = StatusSame
	case r.Unexplained() == 0:
		r.Status = StatusExplained
	default:
		r.Status = StatusDiffers
	}
	return r
}

// sharedCount is the size of the multiset intersection of a and b.
func sharedCount(a, b []string) int {
	m := map[string]int{}
	for _, f := range a {
		m[f]++
	}
	n := 0
	for _, f := range b {
		if m[f] > 0 {
			m[f]--
			n++
		}
	}
	return n
}
