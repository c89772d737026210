package hostd

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"

	"github.com/nslab/nslab/hostd/errdefs"
)

// filters is Docker's filters.Args: a key with a set of values, sent as
// JSON in the "filters" query parameter.
type filters map[string]map[string]bool

// parseFilters accepts both JSON shapes Docker accepts:
// {"name":{"cm01":true}} and the older {"name":["cm01"]}. Keys outside
// allowed are Docker's "invalid filter" error.
func parseFilters(s string, allowed ...string) (filters, error) {
	return parseFiltersAs(s, "invalid filter '%s'", allowed...)
}

// parseFiltersAs is parseFilters with the wording of the unknown key's
// error: Docker's image list writes it "Invalid filter '%s'".
func parseFiltersAs(s, unknown string, allowed ...string) (filters, error) {
	f, err := decodeFilters(s)
	if err != nil {
		return nil, err
	}
	if k := f.unknownKey(allowed...); k != "" {
		return nil, errdefs.BadRequest(unknown, k)
	}
	return f, nil
}

// decodeFilters reads the JSON of a "filters" parameter.
func decodeFilters(s string) (filters, error) {
	f := filters{}
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
func (f filters) unknownKey(allowed ...string) string {
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

func (f filters) has(key string) bool { return len(f[key]) > 0 }

// values lists a key's values, sorted.
func (f filters) values(key string) []string {
	var out []string
	for v := range f[key] {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// exact reports whether no value is given for key or one equals source.
func (f filters) exact(key, source string) bool {
	if !f.has(key) {
		return true
	}
	return f[key][source]
}

// match is Docker's Args.Match: no value, an equal value, or a value that
// as a regular expression matches source.
func (f filters) match(key, source string) bool {
	if !f.has(key) || f[key][source] {
		return true
	}
	for v := range f[key] {
		if ok, err := regexp.MatchString(v, source); err == nil && ok {
			return true
		}
	}
	return false
}

// matchLabels checks "label" values ("key" or "key=value") against labels.
func (f filters) matchLabels(labels map[string]string) bool {
	for v := range f["label"] {
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := labels[k]
		if !ok || (hasValue && got != want) {
			return false
		}
	}
	return true
}
