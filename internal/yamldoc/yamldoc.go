// Package yamldoc walks the YAML files nslab reads (topologies, checks) so
// that every problem in one is reported with its file, line and field, all
// of them at once, before anything is acted on.
package yamldoc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a file, located in it.
type Problem struct {
	File    string
	Line    int // 0 when unknown (a value built in code)
	Field   string
	Message string
	// Err is the error behind the problem, when there is one (the kernel
	// lacks what the file asks for, say), for errors.Is.
	Err error
}

func (p Problem) String() string {
	loc := p.File
	if loc == "" {
		loc = "topology"
	}
	if p.Line > 0 {
		loc += ":" + strconv.Itoa(p.Line)
	}
	if p.Field == "" {
		return loc + ": " + p.Message
	}
	return loc + ": " + p.Field + ": " + p.Message
}

// Problems is every problem found in a file, as an error: its text lists
// them one a line, and errors.Is and errors.As see the errors behind them.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "\n")
}

func (ps Problems) Unwrap() []error {
	var errs []error
	for _, p := range ps {
		if p.Err != nil {
			errs = append(errs, p.Err)
		}
	}
	return errs
}

// Decoder collects the problems of one file while its nodes are walked.
type Decoder struct {
	File     string
	Problems []Problem
	// Lines maps each field path walked ("hosts[1].interfaces[0].address")
	// to its line, for problems found after decoding.
	Lines map[string]int
}

// New returns a decoder for the file name.
func New(file string) *Decoder { return &Decoder{File: file, Lines: map[string]int{}} }

// Errorf records a problem at line in field.
func (d *Decoder) Errorf(line int, field, format string, args ...any) {
	d.Problems = append(d.Problems, Problem{File: d.File, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

// yamlLine takes the line number out of a YAML syntax error: the YAML
// library reports one only as text ("yaml: line 3: did not find expected
// key"), with no typed error to ask. The text only places the message; no
// decision rests on it.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Root parses data as one YAML document and returns its top node; kind
// names the file in problems ("topology"), empty says what an empty file
// lacks ("a topology needs at least one host").
func (d *Decoder) Root(data []byte, kind, empty string) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.Errorf(1, "", "empty file: %s", empty)
			return nil, false
		}
		line, msg := 0, err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		d.Errorf(line, "", "not valid YAML: %s", msg)
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		d.Errorf(extra.Line, "", "a %s file holds one YAML document", kind)
		return nil, false
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	return root, true
}

// Mapping walks a YAML mapping, calling the handler of each known key with
// the value and its field path; any other key is a problem.
func (d *Decoder) Mapping(n *yaml.Node, path string, fields map[string]func(*yaml.Node, string)) {
	if path != "" {
		d.Lines[path] = n.Line
	}
	if n.Kind != yaml.MappingNode {
		d.Errorf(n.Line, orTop(path), "must be a mapping")
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := Join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.Errorf(k.Line, field, "given twice (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		fn, ok := fields[k.Value]
		if !ok {
			d.Errorf(k.Line, field, "unknown field (known: %s)", known(fields))
			continue
		}
		// A field's line is its key's: for a block list the value starts
		// on the next line.
		d.Lines[field] = k.Line
		fn(v, field)
	}
}

// Require reports each named key missing from the mapping n.
func (d *Decoder) Require(n *yaml.Node, path string, keys ...string) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for _, key := range keys {
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			found = found || n.Content[i].Value == key
		}
		if !found {
			d.Errorf(n.Line, Join(path, key), "required")
		}
	}
}

// Seq walks a list (null is an empty one), calling item with each element
// and its path.
func (d *Decoder) Seq(n *yaml.Node, path string, item func(*yaml.Node, string)) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n.Line, path, "must be a list")
		return
	}
	for i, c := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.Lines[p] = c.Line
		item(c, p)
	}
}

// Str reads a scalar as a string.
func (d *Decoder) Str(n *yaml.Node, path string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.Errorf(n.Line, path, "must be a string")
		return ""
	}
	return n.Value
}

// Bool reads true or false.
func (d *Decoder) Bool(n *yaml.Node, path string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		d.Errorf(n.Line, path, "must be true or false, not %q", n.Value)
	}
	return b
}

// Scalar reads a string value with parse, reporting parse's error at the
// value's line.
func Scalar[T any](d *Decoder, n *yaml.Node, path string, parse func(string) (T, error)) T {
	var zero T
	s := d.Str(n, path)
	if s == "" {
		return zero
	}
	v, err := parse(s)
	if err != nil {
		d.Errorf(n.Line, path, "%v", err)
		return zero
	}
	return v
}

// Join appends key to a field path.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orTop(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

// known lists the accepted keys in a stable order for messages.
func known(fields map[string]func(*yaml.Node, string)) string {
	ks := make([]string, 0, len(fields))
	for k := range fields {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}
