package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Endpoint is one party of a reachability matrix: pings go from inside NS
// and to Addr.
type Endpoint struct {
	Name string
	NS   string
	Addr netip.Addr
}

// Matrix is the outcome of all-pairs pings between named endpoints, or an
// expectation of it (NewMatrix, Groups). A cell is reachable, unreachable
// (no reply for the whole deadline) or unknown (the ping could not be made:
// no such namespace, cancelled); an unknown cell never equals anything.
// The diagonal (an endpoint to itself) is not probed and not compared.
type Matrix struct {
	names []string
	index map[string]int
	cells [][]cell
	err   error // invalid endpoints: makes the matrix unequal to any other

	// Elapsed is how long Reachability took: all pairs run in parallel,
	// so with any unreachable pair it is about one Timeout.
	Elapsed time.Duration
}

type cell struct {
	reach bool
	err   error // why a measured pair is not reachable
}

func (c cell) unknown() bool { return c.err != nil && !errors.Is(c.err, ErrDeadline) }

// NewMatrix is an expectation in which no endpoint reaches another; add
// the reachable pairs with Allow.
func NewMatrix(names ...string) Matrix {
	m := Matrix{names: append([]string(nil), names...), index: map[string]int{}}
	for i, n := range names {
		if _, dup := m.index[n]; dup && m.err == nil {
			m.err = fmt.Errorf("endpoint %q named twice", n)
		}
		m.index[n] = i
	}
	m.cells = make([][]cell, len(names))
	for i := range m.cells {
		m.cells[i] = make([]cell, len(names))
	}
	return m
}

// Allow marks from → each of to as reachable and returns m. It panics on a
// name m does not have: an expectation with a typo must not pass quietly.
func (m Matrix) Allow(from string, to ...string) Matrix {
	i := m.mustIndex(from)
	for _, t := range to {
		m.cells[i][m.mustIndex(t)].reach = true
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

func (m Matrix) mustIndex(name string) int {
	i, ok := m.index[name]
	if !ok {
		panic(fmt.Sprintf("probe.Matrix: no endpoint %q (have %v)", name, m.names))
	}
	return i
}

// Names are the endpoints in row and column order.
func (m Matrix) Names() []string { return append([]string(nil), m.names...) }

// Reachable says whether from got an echo reply from to.
func (m Matrix) Reachable(from, to string) bool {
	i, ok1 := m.index[from]
	j, ok2 := m.index[to]
	return ok1 && ok2 && i != j && m.cells[i][j].reach
}

// Err is why from → to is not reachable in a measured matrix: a
// *DeadlineError for a silent path, another error for one that could not
// be probed; nil for a reachable pair or an expectation.
func (m Matrix) Err(from, to string) error {
	i, ok1 := m.index[from]
	j, ok2 := m.index[to]
	if !ok1 || !ok2 {
		return fmt.Errorf("no such pair %s → %s", from, to)
	}
	return m.cells[i][j].err
}

// Reachability pings every endpoint from every other one, all pairs in
// parallel, each with the options o, and returns the matrix of outcomes.
// An unreachable pair is one that stayed silent for the whole o.Timeout.
func Reachability(ctx context.Context, endpoints []Endpoint, o Opts) Matrix {
	names := make([]string, len(endpoints))
	for i, e := range endpoints {
		names[i] = e.Name
	}
	m := NewMatrix(names...)
	for _, e := range endpoints {
		if m.err == nil && (e.Name == "" || e.NS == "" || !e.Addr.IsValid()) {
			m.err = fmt.Errorf("endpoint %+v: name, namespace and address are required", e)
		}
	}
	if m.err != nil {
		return m
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i, from := range endpoints {
		for j, to := range endpoints {
			if i == j {
				continue
			}
			// Each goroutine writes its own cell: no lock needed.
			wg.Go(func() {
				_, err := Ping(ctx, from.NS, to.Addr, o)
				m.cells[i][j] = cell{reach: err == nil, err: err}
			})
		}
	}
	wg.Wait()
	m.Elapsed = time.Since(start)
	return m
}

// Equal says whether m and o have the same endpoints (in any order) and the
// same outcome for every pair; unknown cells are never equal.
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
	for _, n := range want.names {
		if _, ok := m.index[n]; !ok {
			out = append(out, fmt.Sprintf("endpoint %s: missing", n))
		}
	}
	for _, n := range m.names {
		if _, ok := want.index[n]; !ok {
			out = append(out, fmt.Sprintf("endpoint %s: not expected", n))
		}
	}
	for i, from := range m.names {
		for j, to := range m.names {
			wi, ok1 := want.index[from]
			wj, ok2 := want.index[to]
			if i == j || !ok1 || !ok2 {
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
	for _, n := range m.names {
		w = max(w, len(n))
	}
	fw := max(w, len("from\\to"))
	var b strings.Builder
	line := func(s string) { b.WriteString(strings.TrimRight(s, " ") + "\n") }
	head := fmt.Sprintf("%-*s", fw, "from\\to")
	for _, n := range m.names {
		head += fmt.Sprintf(" %-*s", w, n)
	}
	line(head)
	var notes []string
	for i, from := range m.names {
		row := fmt.Sprintf("%-*s", fw, from)
		for j, to := range m.names {
			mark := "✗"
			switch c := m.cells[i][j]; {
			case i == j:
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
