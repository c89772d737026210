package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Endpoint is one party of a reachability matrix: pings go from inside NS
// and to Addr.
type Endpoint struct {
	Name string
	NS   string
	Addr netip.Addr
}

// Matrix is the outcome of pings from sources (rows) to destinations
// (columns), or an expectation of it (NewMatrix, NewPairs, Groups). A cell
// is reachable, unreachable (no reply for the whole deadline) or unknown
// (the ping could not be made: no such namespace, cancelled); an unknown
// cell never equals anything. A pair of an endpoint with itself (the same
// name as source and destination) is not probed and not compared.
type Matrix struct {
	from, to       []string
	fromIdx, toIdx map[string]int
	cells          [][]cell
	err            error // invalid endpoints: makes the matrix unequal to any other

	// Elapsed is how long Run took: every pair runs at once (up to
	// MatrixOpts.Parallel sources), so with any unreachable pair it is
	// about one Timeout.
	Elapsed time.Duration
}

type cell struct {
	reach bool
	reply Reply
	err   error // why a measured pair is not reachable
}

func (c cell) unknown() bool { return c.err != nil && !errors.Is(c.err, ErrDeadline) }

// NewMatrix is an expectation between names (as sources and as
// destinations) in which no endpoint reaches another; add the reachable
// pairs with Allow.
func NewMatrix(names ...string) Matrix { return NewPairs(names, names) }

// NewPairs is an expectation from each of from to each of to in which
// nothing is reachable; add the reachable pairs with Allow.
func NewPairs(from, to []string) Matrix {
	m := Matrix{from: append([]string(nil), from...), to: append([]string(nil), to...)}
	m.fromIdx, m.err = index(m.from)
	var err error
	if m.toIdx, err = index(m.to); m.err == nil {
		m.err = err
	}
	m.cells = make([][]cell, len(m.from))
	for i := range m.cells {
		m.cells[i] = make([]cell, len(m.to))
	}
	return m
}

func index(names []string) (map[string]int, error) {
	idx := make(map[string]int, len(names))
	var err error
	for i, n := range names {
		if _, dup := idx[n]; dup && err == nil {
			err = fmt.Errorf("endpoint %q named twice", n)
		}
		idx[n] = i
	}
	return idx, err
}

// Allow marks from → each of to as reachable and returns m. It panics on a
// name m does not have: an expectation with a typo must not pass quietly.
func (m Matrix) Allow(from string, to ...string) Matrix {
	i := mustIndex(m.fromIdx, m.from, from, "source")
	for _, t := range to {
		m.cells[i][mustIndex(m.toIdx, m.to, t, "destination")].reach = true
	}
	return m
}

// Groups is the expectation that endpoints reach each other exactly when
// they are in the same group: Groups([]string{"a", "b"}, []string{"c"}).
func Groups(groups ...[]string) Matrix {
	var names []string
	for _, g := range groups {
		names = append(names, g...)
	}
	m := NewMatrix(names...)
	for _, g := range groups {
		for _, from := range g {
			m.Allow(from, g...)
		}
	}
	return m
}

func mustIndex(idx map[string]int, names []string, name, what string) int {
	i, ok := idx[name]
	if !ok {
		panic(fmt.Sprintf("probe.Matrix: no %s %q (have %v)", what, name, names))
	}
	return i
}

// Names are the sources in row order (for a matrix made by NewMatrix,
// Groups or Reachability, also the destinations).
func (m Matrix) Names() []string { return append([]string(nil), m.from...) }

// Destinations are the destinations in column order.
func (m Matrix) Destinations() []string { return append([]string(nil), m.to...) }

// at returns the cell of from → to, and whether it is a pair at all.
func (m Matrix) at(from, to string) (cell, bool) {
	i, ok1 := m.fromIdx[from]
	j, ok2 := m.toIdx[to]
	if !ok1 || !ok2 || from == to {
		return cell{}, false
	}
	return m.cells[i][j], true
}

// Reachable says whether from got an echo reply from to.
func (m Matrix) Reachable(from, to string) bool {
	c, ok := m.at(from, to)
	return ok && c.reach
}

// Err is why from → to is not reachable in a measured matrix: a
// *DeadlineError for a silent path, another error for one that could not
// be probed; nil for a reachable pair or an expectation.
func (m Matrix) Err(from, to string) error {
	c, ok := m.at(from, to)
	if !ok {
		return fmt.Errorf("no such pair %s → %s", from, to)
	}
	return c.err
}

// Result is one pair's outcome in a measured matrix.
type Result struct {
	From, To string
	// Reply is the echo reply that answered (zero unless Reachable).
	Reply Reply
	// Err is why the pair is not reachable: a *DeadlineError
	// (errors.Is(err, ErrDeadline)) when it stayed silent for the whole
	// deadline, another error when it could not be probed.
	Err error
}

// Reachable says whether the pair got an echo reply.
func (r Result) Reachable() bool { return r.Err == nil }

// Results lists every pair, row by row (the diagonal left out).
func (m Matrix) Results() []Result {
	var out []Result
	for i, from := range m.from {
		for j, to := range m.to {
			if from == to {
				continue
			}
			c := m.cells[i][j]
			out = append(out, Result{From: from, To: to, Reply: c.reply, Err: c.err})
		}
	}
	return out
}

// Equal says whether m and o have the same sources and destinations (in
// any order) and the same outcome for every pair; unknown cells are never
// equal.
func (m Matrix) Equal(o Matrix) bool { return m.diff(o) == nil }

// Diff lists how m differs from want, one line per pair with the probe's
// error, followed by both tables; "" when they are equal. With Gomega:
// Expect(got.Diff(want)).To(BeEmpty()).
func (m Matrix) Diff(want Matrix) string {
	lines := m.diff(want)
	if lines == nil {
		return ""
	}
	return strings.Join(lines, "\n") + "\ngot:\n" + m.String() + "want:\n" + want.String()
}

func (m Matrix) diff(want Matrix) []string {
	var out []string
	for _, e := range []error{m.err, want.err} {
		if e != nil {
			out = append(out, "invalid matrix: "+e.Error())
		}
	}
	if m.square() && want.square() {
		out = append(out, missing("endpoint", m.fromIdx, want.from, m.from, want.fromIdx)...)
	} else {
		out = append(out, missing("source", m.fromIdx, want.from, m.from, want.fromIdx)...)
		out = append(out, missing("destination", m.toIdx, want.to, m.to, want.toIdx)...)
	}
	for i, from := range m.from {
		for j, to := range m.to {
			wi, ok1 := want.fromIdx[from]
			wj, ok2 := want.toIdx[to]
			if from == to || !ok1 || !ok2 {
				continue
			}
			got, exp := m.cells[i][j], want.cells[wi][wj]
			if got.reach == exp.reach && !got.unknown() && !exp.unknown() {
				continue
			}
			line := fmt.Sprintf("%s → %s: want %s, got %s", from, to, state(exp), state(got))
			if got.err != nil {
				line += ": " + got.err.Error()
			}
			out = append(out, line)
		}
	}
	return out
}

// square says whether the sources are the destinations, in the same order.
func (m Matrix) square() bool { return slices.Equal(m.from, m.to) }

// missing lists the names one side has and the other lacks.
func missing(what string, gotIdx map[string]int, wantNames, gotNames []string, wantIdx map[string]int) []string {
	var out []string
	for _, n := range wantNames {
		if _, ok := gotIdx[n]; !ok {
			out = append(out, fmt.Sprintf("%s %s: missing", what, n))
		}
	}
	for _, n := range gotNames {
		if _, ok := wantIdx[n]; !ok {
			out = append(out, fmt.Sprintf("%s %s: not expected", what, n))
		}
	}
	return out
}

func state(c cell) string {
	switch {
	case c.reach:
		return "reachable"
	case c.unknown():
		return "unknown"
	}
	return "unreachable"
}

// String prints the matrix as a table, rows pinging columns: ✓ reachable,
// ✗ unreachable, ? unknown (its error is listed below the table).
func (m Matrix) String() string {
	w := 1 // column width
	for _, n := range m.to {
		w = max(w, len(n))
	}
	fw := len("from\\to")
	for _, n := range m.from {
		fw = max(fw, len(n))
	}
	var b strings.Builder
	line := func(s string) { b.WriteString(strings.TrimRight(s, " ") + "\n") }
	head := fmt.Sprintf("%-*s", fw, "from\\to")
	for _, n := range m.to {
		head += fmt.Sprintf(" %-*s", w, n)
	}
	line(head)
	var notes []string
	for i, from := range m.from {
		row := fmt.Sprintf("%-*s", fw, from)
		for j, to := range m.to {
			mark := "✗"
			switch c := m.cells[i][j]; {
			case from == to:
				mark = "·"
			case c.reach:
				mark = "✓"
			case c.unknown():
				mark = "?"
				notes = append(notes, fmt.Sprintf("? %s → %s: %v", from, to, c.err))
			}
			// Pad by hand: a mark is one column wide but several bytes.
			row += " " + mark + strings.Repeat(" ", w-1)
		}
		line(row)
	}
	if m.err != nil {
		notes = append(notes, "invalid matrix: "+m.err.Error())
	}
	for _, n := range notes {
		line(n)
	}
	return b.String()
}

// MatrixOpts bounds a matrix run.
type MatrixOpts struct {
	// Opts is every pair's deadline and retry rule, as for Ping: echo
	// requests every Interval until a reply or Timeout.
	Opts
	// Parallel is how many sources ping at the same time, each to all of
	// its destinations at once; 0 means DefaultParallel. Each costs the
	// machine's neighbour table (one for all namespaces, 1024 entries by
	// default) up to two entries per destination until it is done.
	Parallel int
}

// DefaultParallel is how many sources of a matrix ping at once by default:
// with 50 destinations each, at most 400 entries of the machine's
// neighbour table.
const DefaultParallel = 4

// Reachability pings every endpoint from every other one and returns the
// matrix of outcomes: Run with the endpoints as sources and destinations.
func Reachability(ctx context.Context, endpoints []Endpoint, o Opts) Matrix {
	return Run(ctx, endpoints, endpoints, MatrixOpts{Opts: o})
}

// Run pings each destination from each source (but not an endpoint from
// itself), with every pair's deadline and retries as o says, and returns
// the matrix of outcomes. Each source pings all of its destinations at
// once through one ICMP socket; o.Parallel bounds how many sources do at
// a time. An unreachable pair is one that stayed silent for its whole
// deadline. The neighbour tables of the endpoints' namespaces are left as
// Run found them (see neighbours).
func Run(ctx context.Context, from, to []Endpoint, o MatrixOpts) Matrix {
	m := NewPairs(names(from), names(to))
	for _, e := range append(append([]Endpoint(nil), from...), to...) {
		if m.err == nil && (e.Name == "" || e.NS == "" || !e.Addr.IsValid()) {
			m.err = fmt.Errorf("endpoint %+v: name, namespace and address are required", e)
		}
	}
	if m.err != nil {
		return m
	}
	start := time.Now()
	runSources(ctx, m, from, to, o)
	m.Elapsed = time.Since(start)
	return m
}

func names(eps []Endpoint) []string {
	out := make([]string, len(eps))
	for i, e := range eps {
		out[i] = e.Name
	}
	return out
}
