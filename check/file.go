package check

import (
	"fmt"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nslab/nslab/internal/yamldoc"
)

// File is a parsed checks file.
type File struct {
	// Path is where the file was read from ("" when parsed from memory).
	Path string
	// Exercise and Topology say what the file is for (E02, single); both
	// optional, shown in reports.
	Exercise string
	Topology string
	Checks   []Check
}

// Check is one expectation.
type Check struct {
	Name string
	Line int
	// Kind is the kind of check: ping, tcp, http, dns, network, route,
	// forwarding, firewall, etcd, interface or fdb.
	Kind string
	// Deadline bounds the check; a check that must not pass waits all of
	// it. Interval separates its tries.
	Deadline time.Duration
	Interval time.Duration
	// Negate: the expectation is that the thing is not there (expect:
	// unreachable, absent or unresolved).
	Negate bool
	spec   spec
}

// Defaults of a check's timing.
const (
	DefaultDeadline = 5 * time.Second
	// DefaultSilence is the deadline of a check that a path stays closed.
	DefaultSilence  = 2 * time.Second
	DefaultInterval = 200 * time.Millisecond
)

// timing is a file's defaults: the deadline of a check that must pass,
// of one that a path stays closed (silence), and the pause between tries.
type timing struct{ deadline, silence, interval time.Duration }

// FileError lists every problem found in a checks file, one a line;
// nothing was run.
type FileError struct {
	yamldoc.Problems
}

// Load reads and parses a checks file.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checks: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a checks file; name names it in errors.
func Parse(name string, data []byte) (*File, error) {
	p := &parser{yamldoc.New(name)}
	f := p.document(data)
	if len(p.Problems) > 0 {
		return nil, &FileError{Problems: p.Problems}
	}
	f.Path = name
	return f, nil
}

// parser reads a checks file's nodes.
type parser struct{ *yamldoc.Decoder }

func (p *parser) document(data []byte) *File {
	f := &File{}
	root, ok := p.Root(data, "checks", "a checks file needs a list of checks")
	if !ok {
		return f
	}
	def := timing{deadline: DefaultDeadline, silence: DefaultSilence, interval: DefaultInterval}
	var checks *yaml.Node
	p.Mapping(root, "", map[string]func(*yaml.Node, string){
		"exercise": func(v *yaml.Node, fld string) { f.Exercise = p.Str(v, fld) },
		"topology": func(v *yaml.Node, fld string) { f.Topology = p.Str(v, fld) },
		"deadline": func(v *yaml.Node, fld string) { def.deadline = yamldoc.Scalar(p.Decoder, v, fld, parseDuration) },
		"silence":  func(v *yaml.Node, fld string) { def.silence = yamldoc.Scalar(p.Decoder, v, fld, parseDuration) },
		"interval": func(v *yaml.Node, fld string) { def.interval = yamldoc.Scalar(p.Decoder, v, fld, parseDuration) },
		"checks":   func(v *yaml.Node, _ string) { checks = v },
	})
	if checks == nil {
		if root.Kind == yaml.MappingNode {
			p.Errorf(root.Line, "checks", "required")
		}
		return f
	}
	if checks.Kind != yaml.SequenceNode || len(checks.Content) == 0 {
		p.Errorf(checks.Line, "checks", "must be a list of at least one check")
		return f
	}
	names := map[string]int{}
	for i, n := range checks.Content {
		for _, c := range p.check(n, fmt.Sprintf("checks[%d]", i), def) {
			if first, dup := names[c.Name]; dup {
				p.Errorf(c.Line, fmt.Sprintf("checks[%d].name", i), "duplicate check name %q (also line %d)", c.Name, first)
			}
			names[c.Name] = c.Line
			f.Checks = append(f.Checks, c)
		}
	}
	return f
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration such as 5s", s)
	}
	return d, nil
}

// list reads a string or a list of strings.
func (p *parser) list(n *yaml.Node, path string) []string {
	if n.Kind == yaml.ScalarNode {
		return []string{p.Str(n, path)}
	}
	var out []string
	p.Seq(n, path, func(c *yaml.Node, cp string) { out = append(out, p.Str(c, cp)) })
	return out
}
