package check

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteTable writes one line per check, and under a failure what was
// expected and what was seen, then a summary line.
func (r *Report) WriteTable(w io.Writer) error {
	width := len("CHECK")
	for _, res := range r.Results {
		width = max(width, len([]rune(res.Name)))
	}
	var b strings.Builder
	row := func(verdict, name, took string) {
		fmt.Fprintf(&b, "%-6s  %s%s  %s\n", verdict, name, strings.Repeat(" ", width-len([]rune(name))), took)
	}
	row("RESULT", "CHECK", "TIME")
	for _, res := range r.Results {
		if res.Passed {
			row("pass", res.Name, res.Duration.Round(time.Millisecond).String())
			continue
		}
		row("FAIL", res.Name, res.Duration.Round(time.Millisecond).String())
		fmt.Fprintf(&b, "        expected: %s\n", res.Expected)
		fmt.Fprintf(&b, "        seen:     %s\n", indent(res.Seen, "                  "))
	}
	what := r.File
	if r.Exercise != "" {
		what = r.Exercise + " (" + r.File + ")"
	}
	fmt.Fprintf(&b, "%s on lab %s: %d checks, %d passed, %d failed, in %s\n",
		what, r.Lab, len(r.Results), r.Passed, r.Failed, r.Duration.Round(time.Millisecond))
	_, err := io.WriteString(w, b.String())
	return err
}

// indent continues a multi-line text under its first line.
func indent(s, prefix string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

// WriteJSON writes the report as JSON, what `nslab graph --checks` reads.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ReadJSON reads a report WriteJSON wrote.
func ReadJSON(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("checks report: %w", err)
	}
	return &r, nil
}

// JUnit's XML, as CI systems read it: one testsuite per file, one testcase
// per check, a failure element for each that failed.
type junitSuite struct {
	XMLName  xml.Name    `xml:"testsuite"`
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the report as a JUnit testsuite.
func (r *Report) WriteJUnit(w io.Writer) error {
	name := r.File
	if r.Exercise != "" {
		name = r.Exercise
	}
	s := junitSuite{Name: name + " on lab " + r.Lab, Tests: len(r.Results), Failures: r.Failed, Time: seconds(r.Duration)}
	for _, res := range r.Results {
		c := junitCase{Name: res.Name, Classname: "nslab.check." + res.Kind, Time: seconds(res.Duration)}
		if !res.Passed {
			c.Failure = &junitFailure{
				Message: "expected " + res.Expected,
				Text:    fmt.Sprintf("%s:%d\nexpected: %s\nseen: %s\n", r.File, res.Line, res.Expected, res.Seen),
			}
		}
		s.Cases = append(s.Cases, c)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
