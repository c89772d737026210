// Package transcripts reads and runs transcripts: a lab exercise written
// down as a student types it, host by host, with the output lines that
// must appear. The same transcript runs on hostd and on real dockerd.
//
// The format, one item per line:
//
//	# a comment
//	title: what the exercise is          (headers, before the first host)
//	seed: 000                            the source document
//	topology: classroom                  fixtures/<name>.yaml
//	needs: E02 E05                       the exercises it exercises
//	[node1]                              the following commands run in host node1
//	$ docker run -dit --name cm01 alpine a command; it must exit 0
//	$! docker network rm host            a command that must fail
//	> 172.17.0.2                         a line of its output contains this text
//	~ ^\s*1\s+02:42:ac:11:00:02\s+no     a line of its output matches this RE2
//	!> eth0                              no line contains this text
//	!~ ^\d+: eth                         no line matches this RE2
//	[lab]                                `nslab ...` commands about the lab
//
// Commands run in one shell per host, as in a terminal on that machine: in
// the host's network, UTS and mount namespaces, so variables set by one
// command are there for the next, the docker CLI in a docker host finds
// that host's daemon at /var/run/docker.sock, and what a student makes
// under /var/run (ip netns add, ln -s into /var/run/netns) is the host's
// own. {lab} stands for the lab id.
//
// Both runtimes run the same image, so a command in a container prints
// the same on both (busybox's ping says "1 packets received"); where they
// print one fact in two ways, a transcript accepts both with a regular
// expression.
package transcripts

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Transcript is one parsed transcript file.
type Transcript struct {
	// Name is the file's base name without .txt ("000-bridge").
	Name string
	File string
	// Title, Seed and Topology are the headers; Needs the exercise ids.
	Title, Seed, Topology string
	Needs                 []string
	Steps                 []Step
}

// LabHost is the pseudo-host whose commands are nslab commands about the
// whole lab, run outside its namespaces.
const LabHost = "lab"

// Step is one command and what its output must show.
type Step struct {
	Line     int
	Host     string
	Command  string
	MustFail bool
	Expect   []Expectation
}

// Expectation is one line of a step's output that must (or must not)
// appear.
type Expectation struct {
	Line   int
	Negate bool
	Regex  bool
	Text   string
	re     *regexp.Regexp
}

// Match says whether some line of out satisfies the expectation's pattern
// (before negation).
func (e Expectation) match(out string) bool {
	for _, l := range strings.Split(out, "\n") {
		if e.Regex && e.re.MatchString(l) || !e.Regex && strings.Contains(l, e.Text) {
			return true
		}
	}
	return false
}

func (e Expectation) String() string {
	s := "> "
	if e.Regex {
		s = "~ "
	}
	if e.Negate {
		s = "!" + s
	}
	return s + e.Text
}

var (
	hostRE     = regexp.MustCompile(`^\[([a-z0-9][a-z0-9-]*)\]$`)
	exerciseRE = regexp.MustCompile(`^E\d\d$`)
)

// Load reads every *.txt transcript in dir, sorted by name.
func Load(dir string) ([]*Transcript, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []*Transcript
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		t, err := Parse(f, b)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Parse reads one transcript; file names it in errors (file:line: ...).
func Parse(file string, data []byte) (*Transcript, error) {
	p := &parser{file: file, t: &Transcript{File: file, Name: strings.TrimSuffix(filepath.Base(file), ".txt")}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		p.line(n, sc.Text())
	}
	if p.t.Topology == "" {
		p.fail(1, "no topology: header")
	}
	if len(p.t.Needs) == 0 {
		p.fail(1, "no needs: header naming the exercises")
	}
	if len(p.t.Steps) == 0 {
		p.fail(1, "no commands")
	}
	if len(p.errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(p.errs, "\n"))
	}
	return p.t, nil
}

// parser reads a transcript line by line, collecting every mistake.
type parser struct {
	file string
	t    *Transcript
	host string // the current [host]
	errs []string
}

func (p *parser) fail(n int, format string, args ...any) {
	p.errs = append(p.errs, fmt.Sprintf("%s:%d: %s", p.file, n, fmt.Sprintf(format, args...)))
}

// line takes line n of the transcript.
func (p *parser) line(n int, raw string) {
	line := strings.TrimSpace(raw)
	switch {
	case line == "" || strings.HasPrefix(line, "#"):
	case hostRE.MatchString(line):
		p.host = hostRE.FindStringSubmatch(line)[1]
	case strings.HasPrefix(line, "$! ") || strings.HasPrefix(line, "$ "):
		p.command(n, line)
	case strings.HasPrefix(line, ">") || strings.HasPrefix(line, "~") || strings.HasPrefix(line, "!>") || strings.HasPrefix(line, "!~"):
		p.expectation(n, line)
	case p.host == "" && strings.Contains(line, ":"):
		p.header(n, line)
	default:
		p.fail(n, "not a command ($), an expectation (>, ~, !>, !~), a [host] or a comment: %q", raw)
	}
}

// command is a "$ CMD" or "$! CMD" line: a step on the current host.
func (p *parser) command(n int, line string) {
	if p.host == "" {
		p.fail(n, "a command before the first [host] line")
		return
	}
	s := Step{Line: n, Host: p.host, MustFail: strings.HasPrefix(line, "$!")}
	s.Command = strings.TrimSpace(line[strings.Index(line, " ")+1:])
	if p.host == LabHost && !strings.HasPrefix(s.Command, "nslab ") {
		p.fail(n, "[%s] runs nslab commands only, not %q", LabHost, s.Command)
	}
	p.t.Steps = append(p.t.Steps, s)
}

// expectation is a ">", "~", "!>" or "!~" line about the last step's output.
func (p *parser) expectation(n int, line string) {
	if len(p.t.Steps) == 0 {
		p.fail(n, "an expected output line before any command")
		return
	}
	e := Expectation{Line: n, Negate: line[0] == '!'}
	rest := strings.TrimPrefix(line, "!")
	e.Regex = rest[0] == '~'
	e.Text = strings.TrimSpace(rest[1:])
	if e.Text == "" {
		p.fail(n, "an empty expectation")
		return
	}
	if e.Regex {
		re, err := regexp.Compile(e.Text)
		if err != nil {
			p.fail(n, "%v", err)
			return
		}
		e.re = re
	}
	s := &p.t.Steps[len(p.t.Steps)-1]
	s.Expect = append(s.Expect, e)
}

// header is a "key: value" line before the first [host].
func (p *parser) header(n int, line string) {
	k, v, _ := strings.Cut(line, ":")
	v = strings.TrimSpace(v)
	switch strings.TrimSpace(k) {
	case "title":
		p.t.Title = v
	case "seed":
		p.t.Seed = v
	case "topology":
		p.t.Topology = v
	case "needs":
		for _, ex := range strings.Fields(v) {
			if !exerciseRE.MatchString(ex) {
				p.fail(n, "needs: %q is not an exercise id such as E02", ex)
			}
			p.t.Needs = append(p.t.Needs, ex)
		}
	default:
		p.fail(n, "unknown header %q (known: title, seed, topology, needs)", k)
	}
}
