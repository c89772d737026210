package parity

import (
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Entry is one reviewed, deliberate difference between hostd and dockerd.
type Entry struct {
	// Fact is an RE2 expression matched against a whole fact line.
	Fact string `yaml:"fact"`
	// Only is the runtime that shows the fact (hostd or dockerd).
	Only string `yaml:"only"`
	// Exercises limits the entry to these exercise ids; empty: all.
	Exercises []string `yaml:"exercises,omitempty"`
	// Reason says why the difference is kept, in a sentence or two.
	Reason string `yaml:"reason"`
	// Pending ties the entry to a feature a runtime does not have yet
	// ("hostd:E07", an entry of pending.yaml): the difference is expected
	// until it lands, and the entry must go with the pending one.
	Pending string `yaml:"pending,omitempty"`

	re *regexp.Regexp
}

// Deliberate is the reviewed list of deliberate differences.
type Deliberate []Entry

//go:embed deliberate.yaml
var reviewed []byte

// Reviewed returns the list kept in deliberate.yaml beside this file,
// checked against pending.yaml.
func Reviewed() (Deliberate, error) {
	p, err := PendingExercises()
	if err != nil {
		return nil, err
	}
	l, err := ParseDeliberate("deliberate.yaml", reviewed)
	if err != nil {
		return nil, err
	}
	return l, l.checkPending(p)
}

// checkPending requires every tie to name an exercise still pending: when
// a feature lands, the differences it excused must fail again.
func (l Deliberate) checkPending(p Pending) error {
	for i, e := range l {
		if e.Pending == "" {
			continue
		}
		rt, ex, ok := strings.Cut(e.Pending, ":")
		if _, pending := p.Why(rt, ex); !ok || !pending {
			return fmt.Errorf("deliberate.yaml: entry %d (%q) is tied to %s, which pending.yaml does not list: the feature landed, remove the entry", i+1, e.Fact, e.Pending)
		}
	}
	return nil
}

// ParseDeliberate reads a list of deliberate differences; every entry
// needs a fact expression that compiles, the runtime that shows it and a
// reason.
func ParseDeliberate(name string, data []byte) (Deliberate, error) {
	var l Deliberate
	if err := yaml.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for i := range l {
		e := &l[i]
		where := fmt.Sprintf("%s: entry %d (%q)", name, i+1, e.Fact)
		if e.Fact == "" || e.Reason == "" {
			return nil, fmt.Errorf("%s: fact and reason are required", where)
		}
		if e.Only != Hostd && e.Only != Dockerd {
			return nil, fmt.Errorf("%s: only must be %s or %s, not %q", where, Hostd, Dockerd, e.Only)
		}
		re, err := regexp.Compile("^(?:" + e.Fact + ")$")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		e.re = re
	}
	return l, nil
}

// Explain returns the first entry that covers a fact seen only on
// runtime only in an exercise, or nil.
func (l Deliberate) Explain(exercise, fact, only string) *Entry {
	for i, e := range l {
		if e.Only != only || (len(e.Exercises) > 0 && !slices.Contains(e.Exercises, exercise)) {
			continue
		}
		if e.re.MatchString(fact) {
			return &l[i]
		}
	}
	return nil
}
