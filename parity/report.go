package parity

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Formats of WriteReport.
var Formats = []string{"table", "json", "junit"}

// WriteReport prints r in format (table, json or junit).
func WriteReport(w io.Writer, r Report, format string) error {
	switch format {
	case "table", "":
		return writeTable(w, r)
	case "json":
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(r)
	case "junit":
		return writeJUnit(w, r)
	}
	return fmt.Errorf("parity: format %q: want one of %s", format, strings.Join(Formats, ", "))
}

// Summary counts the results by status, and the unexplained differences.
func (r Report) Summary() string {
	n := map[string]int{}
	for _, res := range r.Results {
		n[res.Status]++
	}
	return fmt.Sprintf("%d observations compared: %d same, %d explained, %d differ, %d unpaired; %d unexplained differences",
		len(r.Results), n[StatusSame], n[StatusExplained], n[StatusDiffers], n[StatusUnpaired], r.Unexplained())
}

func writeTable(w io.Writer, r Report) error {
	fmt.Fprintf(w, "parity of hostd and dockerd 20.10 (%s)\n", r.Dir)
	for _, run := range r.Runs {
		fmt.Fprintf(w, "  %s run started %s\n", run.Runtime, run.Started.Format("2006-01-02 15:04:05Z"))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EXERCISE\tSTATUS\tSHARED\tDIFF\tUNEXPLAINED\tSPEC")
	for _, res := range r.Results {
		status := res.Status
		if res.Only != "" {
			status += " (" + res.Only + " only)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", res.Exercise, status, res.Facts, len(res.Differences), res.Unexplained(), label(res))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, res := range r.Results {
		if len(res.Differences) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s %s\n", res.Exercise, label(res))
		for _, d := range res.Differences {
			mark := "UNEXPLAINED"
			switch {
			case d.Pending != "":
				mark = "pending " + d.Pending + ": " + d.Reason
			case d.Reason != "":
				mark = "deliberate: " + d.Reason
			}
			fmt.Fprintf(w, "  %-7s only: %s\n      (%s)\n", d.Only, d.Fact, mark)
		}
	}
	fmt.Fprintf(w, "\n%s\n", r.Summary())
	return nil
}

func label(r Result) string {
	if r.Moment == "" || r.Moment == "end" {
		return r.Spec
	}
	return r.Spec + " @" + r.Moment
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// writeJUnit makes one test case per compared observation: failed with
// its unexplained differences, skipped when only one runtime observed it.
func writeJUnit(w io.Writer, r Report) error {
	s := junitSuite{Name: "nslab parity: hostd vs dockerd 20.10", Tests: len(r.Results)}
	for _, res := range r.Results {
		c := junitCase{Name: label(res), Classname: "parity." + res.Exercise}
		var explained, unexplained []string
		for _, d := range res.Differences {
			line := d.Only + " only: " + d.Fact
			switch {
			case d.Reason == "":
				unexplained = append(unexplained, line)
			case d.Pending != "":
				explained = append(explained, line+" (pending "+d.Pending+": "+d.Reason+")")
			default:
				explained = append(explained, line+" (deliberate: "+d.Reason+")")
			}
		}
		switch {
		case res.Status == StatusUnpaired:
			s.Skipped++
			c.Skipped = &junitMessage{Message: "observed on " + res.Only + " only"}
		case len(unexplained) > 0:
			s.Failures++
			c.Failure = &junitMessage{Message: fmt.Sprintf("%d unexplained differences", len(unexplained)), Text: strings.Join(unexplained, "\n")}
		}
		c.SystemOut = strings.Join(explained, "\n")
		s.Cases = append(s.Cases, c)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	e := xml.NewEncoder(w)
	e.Indent("", "  ")
	if err := e.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
