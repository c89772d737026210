package parity

import (
	_ "embed"
	"fmt"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// Pending lists, per runtime, the exercises whose features it does not
// have yet, each with why: runtime → exercise id → reason.
type Pending map[string]map[string]string

//go:embed pending.yaml
var pendingYAML []byte

// PendingExercises returns pending.yaml, the one list of what each runtime
// lacks: transcripts that need a pending exercise skip on that runtime,
// and deliberate differences tied to one expire with it.
func PendingExercises() (Pending, error) { return ParsePending("pending.yaml", pendingYAML) }

var exerciseID = regexp.MustCompile(`^E\d\d$`)

// ParsePending reads a pending list: runtimes hostd and dockerd, exercise
// ids, and a reason for each.
func ParsePending(name string, data []byte) (Pending, error) {
	var p Pending
	if err := yaml.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for rt, exs := range p {
		if rt != Hostd && rt != Dockerd {
			return nil, fmt.Errorf("%s: runtime %q: want %s or %s", name, rt, Hostd, Dockerd)
		}
		for ex, why := range exs {
			if !exerciseID.MatchString(ex) || why == "" {
				return nil, fmt.Errorf("%s: %s: %q: want an exercise id (E07) and a reason", name, rt, ex)
			}
		}
	}
	return p, nil
}

// Why says whether an exercise is pending on a runtime, and why.
func (p Pending) Why(runtime, exercise string) (string, bool) {
	why, ok := p[runtime][exercise]
	return why, ok
}
