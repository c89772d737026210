// Package filters is the "filters" query parameter of Docker's Engine API
// (moby's filters.Args): a key with a set of values, parsed as Docker
// parses it, with Docker's matching rules.
package filters

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"

	"github.com/nslab/nslab/hostd/errdefs"
)

// Args is Docker's filters.Args: a key with a set of values, sent as JSON
// in the "filters" query parameter.
type Args map[string]map[string]bool

// Parse accepts both JSON shapes Docker accepts:
// {"name":{"cm01":true}} and the older {"name":["cm01"]}. Keys outside
// allowed are Docker's "invalid filter" error.
func Parse(s string, allowed ...string) (Args, error) {
	return ParseAs(s, "invalid filter '%s'", allowed...)
}

// ParseAs is Parse with the wording of the unknown key's
// error: Docker's image list writes it "Invalid filter '%s'".
func ParseAs(s, unknown string, allowed ...string) (Args, error) {
	f, err := Decode(s)
	if err != nil {
		return nil, err
	}
	if k := f.unknownKey(allowed...); k != "" {
		return nil, errdefs.BadRequest(unknown, k)
	}
	return f, nil
}

// Decode reads the JSON of a "filters" parameter.
func Decode(s string) (Args, error) {
	f := Args{}
	if s == "" {
		return f, nil
	}
	if err := json.Unmarshal([]byte(s), (*map[string]map[string]bool)(&f)); err != nil {
		var old map[string][]string
		if json.Unmarshal([]byte(s), &old) != nil {
			return nil, errdefs.BadRequest("invalid filter: %s", s)
		}
		for k, vs := range old {
			f[k] = map[string]bool{}
			for _, v := range vs {
				f[k][v] = true
			}
		}
	}
	return f, nil
}

// unknownKey returns the first key (in sorted order) not in allowed, or "".
func (f Args) unknownKey(allowed ...string) string {
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !ok[k] {
			return k
		}
	}
	return ""
}

func (f Args) Has(key string) bool { return len(f[key]) > 0 }

// Values lists a key's values, sorted.
func (f Args) Values(key string) []string {
	var out []string
	for v := range f[key] {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// Exact reports whether no value is given for key or one equals source.
func (f Args) Exact(key, source string) bool {
	if !f.Has(key) {
		return true
	}
	return f[key][source]
}

// Match is Docker's filters.Match: no value, an equal value, or a value that
// as a regular expression matches source.
func (f Args) Match(key, source string) bool {
	if !f.Has(key) || f[key][source] {
		return true
	}
	for v := range f[key] {
		if ok, err := regexp.MatchString(v, source); err == nil && ok {
			return true
		}
	}
	return false
}

// MatchLabels checks "label" values ("key" or "key=value") against labels.
func (f Args) MatchLabels(labels map[string]string) bool {
	for v := range f["label"] {
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := labels[k]
		if !ok || (hasValue && got != want) {
			return false
		}
	}
	return true
}
