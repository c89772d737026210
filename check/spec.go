package check

import (
	"context"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nslab/nslab/internal/yamldoc"
)

// spec is what one kind of check looks for.
type spec interface {
	// describe names the check when the file gives no name.
	describe() string
	// expected says, in words, what passes.
	expected(negate bool) string
	// look observes once. holds says the thing is there (the path answers,
	// the rule exists); seen says what was there instead, for a failure.
	// final stops the retries: a path that must stay closed and answered
	// has failed for good. err is a failure to look at all.
	look(ctx context.Context, e *env, until time.Time) (holds, final bool, seen string, err error)
	// endpoints lists the endpoints the check looks from or at, for the
	// lab to be checked against, and for drawing a failed check.
	endpoints() []endpoint
}

// kind is one kind of check: its fields and the words of its expect:.
type kind struct {
	fields   []string
	required []string
	// yes and no are expect:'s two values, yes the default.
	yes, no string
	parse   func(p *parser, v map[string]*yaml.Node, path string) spec
}

var kinds map[string]kind

func init() {
	reach := func(fields ...string) []string { return append([]string{"from", "to", "both"}, fields...) }
	kinds = map[string]kind{
		"ping":       {fields: reach(), required: []string{"from", "to"}, yes: "reachable", no: "unreachable", parse: parsePing},
		"tcp":        {fields: reach("port"), required: []string{"from", "to", "port"}, yes: "reachable", no: "unreachable", parse: parseTCP},
		"http":       {fields: reach("port", "path", "status", "body"), required: []string{"from", "to"}, yes: "reachable", no: "unreachable", parse: parseHTTP},
		"dns":        {fields: []string{"from", "name", "server", "answer"}, required: []string{"from", "name"}, yes: "resolved", no: "unresolved", parse: parseDNS},
		"network":    {fields: []string{"host", "name", "driver", "subnet", "gateway", "scope", "containers"}, required: []string{"host", "name"}, yes: "present", no: "absent", parse: parseNetwork},
		"route":      {fields: []string{"at", "to", "via", "dev"}, required: []string{"at", "to"}, yes: "present", no: "absent", parse: parseRoute},
		"forwarding": {fields: []string{"at", "enabled"}, required: []string{"at"}, yes: "present", parse: parseForwarding},
		"firewall":   {fields: []string{"at", "iptables", "nft"}, required: []string{"at"}, yes: "present", no: "absent", parse: parseFirewall},
		"etcd":       {fields: []string{"at", "key", "prefix"}, required: []string{"at", "key"}, yes: "present", no: "absent", parse: parseEtcd},
		"interface":  {fields: []string{"at", "name", "address", "mac", "up", "kind", "master"}, required: []string{"at", "name"}, yes: "present", no: "absent", parse: parseInterface},
		"fdb":        {fields: []string{"at", "bridge", "mac"}, required: []string{"at", "bridge", "mac"}, yes: "present", no: "absent", parse: parseFDB},
		"namespace":  {fields: []string{"at", "same_as"}, required: []string{"at", "same_as"}, yes: "present", no: "absent", parse: parseNamespace},
		"etchosts":   {fields: []string{"at", "name", "answer"}, required: []string{"at", "name"}, yes: "present", no: "absent", parse: parseEtcHosts},
	}
}

func kindNames() string {
	var ks []string
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// check reads one item of checks: into one check, or two for both: true.
func (p *parser) check(n *yaml.Node, path string, def timing) []Check {
	c := Check{Line: n.Line, Interval: def.interval}
	var (
		kindName, expect, name string
		kindNode               *yaml.Node
		deadline               time.Duration
	)
	fields := map[string]func(*yaml.Node, string){
		"name":     func(v *yaml.Node, f string) { name = p.Str(v, f) },
		"deadline": func(v *yaml.Node, f string) { deadline = yamldoc.Scalar(p.Decoder, v, f, parseDuration) },
		"interval": func(v *yaml.Node, f string) { c.Interval = yamldoc.Scalar(p.Decoder, v, f, parseDuration) },
		"expect":   func(v *yaml.Node, f string) { expect = p.Str(v, f) },
	}
	for k := range kinds {
		fields[k] = func(v *yaml.Node, f string) {
			if kindNode != nil {
				p.Errorf(v.Line, f, "a check is of one kind; this one is already %s", kindName)
				return
			}
			kindName, kindNode = k, v
		}
	}
	p.Mapping(n, path, fields)
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if kindNode == nil {
		p.Errorf(n.Line, path, "no kind of check: give one of %s", kindNames())
		return nil
	}
	k := kinds[kindName]
	switch expect {
	case "", k.yes:
	case k.no:
		c.Negate = k.no != ""
	default:
		p.Errorf(p.Lines[path+".expect"], path+".expect", "%q: a %s check expects %s", expect, kindName, strings.Join(nonEmpty(k.yes, k.no), " or "))
	}
	c.Kind = kindName
	c.Deadline = deadline
	if c.Deadline == 0 {
		c.Deadline = map[bool]time.Duration{false: def.deadline, true: def.silence}[c.Negate]
	}
	kp := path + "." + kindName
	vals := p.fields(kindNode, kp, k)
	if vals == nil {
		return nil
	}
	s := k.parse(p, vals, kp)
	if s == nil {
		return nil
	}
	c.spec = s
	c.Name = name
	if c.Name == "" {
		c.Name = s.describe()
	}
	out := []Check{c}
	if b, ok := vals["both"]; ok && p.Bool(b, kp+".both") {
		back, err := reverse(s)
		if err != nil {
			p.Errorf(b.Line, kp+".both", "%v", err)
			return nil
		}
		r := c
		r.spec = back
		r.Name = c.Name + " (back)"
		if name == "" {
			r.Name = back.describe()
		}
		out = append(out, r)
	}
	return out
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// fields reads a kind's mapping into its values by key, refusing unknown
// keys and reporting missing ones.
func (p *parser) fields(n *yaml.Node, path string, k kind) map[string]*yaml.Node {
	vals := map[string]*yaml.Node{}
	handlers := map[string]func(*yaml.Node, string){}
	for _, f := range k.fields {
		handlers[f] = func(v *yaml.Node, _ string) { vals[f] = v }
	}
	before := len(p.Problems)
	p.Mapping(n, path, handlers)
	p.Require(n, path, k.required...)
	if len(p.Problems) > before {
		return nil
	}
	return vals
}

// get reads an optional field with parse; zero when absent or wrong (the
// problem is recorded).
func get[T any](p *parser, vals map[string]*yaml.Node, path, key string, parse func(string) (T, error)) T {
	var zero T
	v, ok := vals[key]
	if !ok {
		return zero
	}
	return yamldoc.Scalar(p.Decoder, v, path+"."+key, parse)
}

func str(s string) (string, error) { return s, nil }
