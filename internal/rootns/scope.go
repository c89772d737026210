package rootns

import (
	"regexp"
	"strings"
)

// A machine runs several test runs at once (suites side by side, package
// tests in parallel, other users' labs), each making and removing its own
// namespaces, pins and mounts, all named by a lab id or a test prefix.
// What one run compares around itself must be what it could have made:
// the changes named by one of its own labs, and every change named by
// none — the root namespace's links, addresses, routes, rules, rulesets
// and sysctls, which no lab may touch, and pins or mounts no lab names.
// A change named by someone else's lab or test prefix is theirs.

// labID is the shape of a lab id (lab's idRE), and of the test prefixes
// (nstest.Prefix: letters and the test's pid) that name what package tests
// make.
var labID = regexp.MustCompile(`^[a-z][a-z0-9]{2,9}$`)

// pinPrefix is the shape of what names a pin: a lab id, or a test prefix,
// some of which are longer (the benchmarks' nslbench<hex>).
var pinPrefix = regexp.MustCompile(`^[a-z][a-z0-9]{2,19}$`)

// namedBy returns the lab id (or test prefix) a line of Diff or Changes
// names, "" for none: a /run/netns pin <id>-..., a mount under /run/netns,
// a lab's state root or data root, a lab data directory, or (for the
// machine's /tmp) an entry whose name carries the id.
func namedBy(line string) string {
	section, rest, ok := strings.Cut(line, ": ")
	if !ok || len(rest) < 2 {
		return ""
	}
	subject := strings.Fields(rest[2:])
	if len(subject) == 0 {
		return ""
	}
	name := subject[0]
	switch section {
	case "netns":
		return pinID(name)
	case "labdata":
		return asID(name)
	case "mounts":
		if r, ok := strings.CutPrefix(name, "/run/netns/"); ok {
			return pinID(r)
		}
		for _, dir := range []string{"/run/nslab/", LabDataRoot + "/"} {
			if r, ok := strings.CutPrefix(name, dir); ok {
				return asID(strings.Split(r, "/")[0])
			}
		}
	}
	return ""
}

// pinID returns the lab id a pin's name starts with ("<id>-..."), "" if
// it names none.
func pinID(name string) string {
	id, _, ok := strings.Cut(name, "-")
	if !ok || !pinPrefix.MatchString(id) {
		return ""
	}
	return id
}

func asID(s string) string {
	if labID.MatchString(s) {
		return s
	}
	return ""
}

// Mine splits lines of Changes into what could be this run's and what is
// others': owned says which lab ids the run made, tmp is the run's own
// TMPDIR. A line named by an owned lab, or by none, is the run's; one named
// by another lab or test prefix is foreign. The machine's /tmp holds every
// other run's temporary files (and the state roots of tests' labs): an
// entry there, or a mount below it, is the run's only when it carries an
// owned id or lies in tmp — a run that keeps its temporary files in a
// TMPDIR of its own (as the suites do) checks that directory itself.
func Mine(lines []string, owned func(id string) bool, tmp string) (mine, foreign []string) {
	for _, l := range lines {
		if p, ok := inMachineTmp(l); ok {
			if carriesOwned(p, owned) || tmp != "" && strings.HasPrefix(p+"/", tmp+"/") {
				mine = append(mine, l)
			} else {
				foreign = append(foreign, l)
			}
			continue
		}
		if id := namedBy(l); id == "" || owned(id) {
			mine = append(mine, l)
		} else {
			foreign = append(foreign, l)
		}
	}
	return mine, foreign
}

// inMachineTmp returns the path of a /tmp entry line, or of a mount line
// whose mount point is below the machine's /tmp.
func inMachineTmp(line string) (string, bool) {
	if p, ok := strings.CutPrefix(line, "tmp: + "); ok {
		return p, true
	}
	rest, ok := strings.CutPrefix(line, "mounts: ")
	if !ok || len(rest) < 2 {
		return "", false
	}
	f := strings.Fields(rest[2:])
	if len(f) > 0 && strings.HasPrefix(f[0], MachineTmp+"/") {
		return f[0], true
	}
	return "", false
}

// carriesOwned says whether a path holds an owned id as one of its parts
// (split at '/', '-', '.' and '_').
func carriesOwned(path string, owned func(string) bool) bool {
	for _, part := range strings.FieldsFunc(path, func(r rune) bool { return r == '/' || r == '-' || r == '.' || r == '_' }) {
		if labID.MatchString(part) && owned(part) {
			return true
		}
	}
	return false
}
