package parity

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
)

func record(t *testing.T, dir string, obs ...Observation) {
	t.Helper()
	for _, rt := range []string{Hostd, Dockerd} {
		if err := StartRun(dir, rt); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range obs {
		if err := Write(dir, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, rt := range []string{Hostd, Dockerd} {
		if err := FinishRun(dir, rt); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCompare(t *testing.T) {
	dir := t.TempDir()
	spec := "[E02] the default bridge via docker CLI"
	record(t, dir,
		Observation{Exercise: "E02", Spec: spec, Moment: "end", Runtime: Hostd, Facts: []string{
			"host1 link veth*: veth up=true mac=* master=docker0",
			"host1 link veth*: veth up=true mac=* master=docker0",
			"host1/cm01 resolv: # nslab: no resolver configured",
			"host1 route: 172.17.0.0/16 dev docker0",
		}},
		Observation{Exercise: "E02", Spec: spec, Moment: "end", Runtime: Dockerd, Facts: []string{
			"host1 route: 172.17.0.0/16 dev docker0",
			"host1 link veth*: veth up=true mac=* master=docker0",
			"host1/cm01 resolv: nameserver 8.8.8.8",
			"host1 iptables filter FORWARD #1: -j DOCKER-USER",
		}},
		Observation{Exercise: "E21", Spec: "[E21] overlay", Moment: "end", Runtime: Dockerd, Facts: []string{"x"}},
	)
	list, err := ParseDeliberate("test", []byte(`
- fact: 'host1/cm01 resolv: nameserver 8\.8\.8\.8'
  only: dockerd
  reason: dockerd falls back to Google's resolvers
- fact: 'host1/\S+ resolv: # nslab: .*'
  only: hostd
  exercises: [E02]
  reason: hostd never names a resolver outside the lab
`))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Compare(dir, list)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 || len(rep.Runs) != 2 {
		t.Fatalf("results %+v runs %+v", rep.Results, rep.Runs)
	}
	r := rep.Results[0]
	if r.Exercise != "E02" || r.Status != StatusDiffers || r.Facts != 2 {
		t.Errorf("E02: %+v", r)
	}
	want := map[string]string{
		Hostd + " host1 link veth*: veth up=true mac=* master=docker0": "",
		Hostd + " host1/cm01 resolv: # nslab: no resolver configured":  "hostd never names a resolver outside the lab",
		Dockerd + " host1/cm01 resolv: nameserver 8.8.8.8":             "dockerd falls back to Google's resolvers",
		Dockerd + " host1 iptables filter FORWARD #1: -j DOCKER-USER":  "",
	}
	if len(r.Differences) != len(want) {
		t.Fatalf("differences %+v", r.Differences)
	}
	for _, d := range r.Differences {
		reason, ok := want[d.Only+" "+d.Fact]
		if !ok || reason != d.Reason {
			t.Errorf("difference %+v: want reason %q (known: %v)", d, reason, ok)
		}
	}
	if r.Unexplained() != 2 || rep.Unexplained() != 2 {
		t.Errorf("unexplained %d / %d, want 2", r.Unexplained(), rep.Unexplained())
	}
	if u := rep.Results[1]; u.Status != StatusUnpaired || u.Only != Dockerd {
		t.Errorf("E21: %+v", u)
	}

	// The table names every unexplained fact; JSON and JUnit parse.
	var b bytes.Buffer
	if err := WriteReport(&b, rep, "table"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"UNEXPLAINED", "-j DOCKER-USER", "deliberate: dockerd falls back", "2 unexplained differences"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
	b.Reset()
	if err := WriteReport(&b, rep, "json"); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back.Results) != 2 {
		t.Errorf("json: %v %+v", err, back)
	}
	b.Reset()
	if err := WriteReport(&b, rep, "junit"); err != nil {
		t.Fatal(err)
	}
	var ju junitSuites
	if err := xml.Unmarshal(b.Bytes(), &ju); err != nil {
		t.Fatal(err)
	}
	if s := ju.Suites[0]; s.Tests != 2 || s.Failures != 1 || s.Skipped != 1 || !strings.Contains(s.Cases[0].Failure.Text, "-j DOCKER-USER") {
		t.Errorf("junit: %+v", s)
	}
	if err := WriteReport(&b, rep, "yaml"); err == nil {
		t.Error("an unknown format must be refused")
	}
}

func TestCompareSame(t *testing.T) {
	dir := t.TempDir()
	facts := []string{"a", "b", "b"}
	record(t, dir,
		Observation{Exercise: "E10", Spec: "s", Moment: "end", Runtime: Hostd, Facts: facts},
		Observation{Exercise: "E10", Spec: "s", Moment: "end", Runtime: Dockerd, Facts: []string{"b", "a", "b"}})
	rep, err := Compare(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Results[0]; r.Status != StatusSame || r.Facts != 3 || rep.Unexplained() != 0 {
		t.Errorf("%+v", r)
	}
}

func TestCompareWithoutRun(t *testing.T) {
	dir := t.TempDir()
	if err := StartRun(dir, Dockerd); err != nil {
		t.Fatal(err)
	}
	if err := FinishRun(dir, Dockerd); err != nil {
		t.Fatal(err)
	}
	if _, err := Compare(dir, nil); !errors.Is(err, ErrNoRun) || !strings.Contains(err.Error(), Hostd) {
		t.Errorf("want ErrNoRun naming hostd, got %v", err)
	}
	// A suite still running (the two suites side by side) has no run to
	// compare with yet.
	if err := StartRun(dir, Hostd); err != nil {
		t.Fatal(err)
	}
	if _, err := Compare(dir, nil); !errors.Is(err, ErrNoRun) || !strings.Contains(err.Error(), "has not finished") {
		t.Errorf("want ErrNoRun saying hostd's run has not finished, got %v", err)
	}
}

func TestStartRunReplaces(t *testing.T) {
	dir := t.TempDir()
	record(t, dir, Observation{Exercise: "E10", Spec: "old", Moment: "end", Runtime: Hostd, Facts: []string{"a"}})
	if err := StartRun(dir, Hostd); err != nil {
		t.Fatal(err)
	}
	_, obs, err := Load(dir, Hostd)
	if err != nil || len(obs) != 0 {
		t.Errorf("a new run must start empty: %v %v", obs, err)
	}
}

func TestParseDeliberate(t *testing.T) {
	for _, bad := range []string{
		`- {fact: 'x', only: dockerd}`,
		`- {fact: 'x', only: both, reason: r}`,
		`- {fact: '(', only: hostd, reason: r}`,
		`not a list`,
	} {
		if _, err := ParseDeliberate("t", []byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	l, err := Reviewed()
	if err != nil {
		t.Fatalf("deliberate.yaml: %v", err)
	}
	for _, e := range l {
		if len(e.Reason) < 20 {
			t.Errorf("entry %q: a reason says why, in a sentence: %q", e.Fact, e.Reason)
		}
	}
}

// An entry tied to a pending feature excuses its difference only while the
// feature is pending; once pending.yaml drops it, the entry must go.
func TestPendingTie(t *testing.T) {
	l, err := ParseDeliberate("t", []byte(`
- fact: 'x resolv: nameserver 127\.0\.0\.11'
  only: dockerd
  pending: hostd:E07
  reason: dockerd has the embedded DNS, hostd not yet
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePending("p", []byte("hostd:\n  E07: no embedded DNS yet\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.checkPending(p); err != nil {
		t.Errorf("tie to a pending feature refused: %v", err)
	}
	if e := l.Explain("E06", "x resolv: nameserver 127.0.0.11", Dockerd); e == nil || e.Pending != "hostd:E07" {
		t.Errorf("explain: %+v", e)
	}
	landed, _ := ParsePending("p", []byte("hostd: {}\n"))
	if err := l.checkPending(landed); err == nil || !strings.Contains(err.Error(), "remove the entry") {
		t.Errorf("a tie to a landed feature must be refused: %v", err)
	}
	for _, bad := range []string{"podman:\n  E07: x\n", "hostd:\n  DNS: x\n", "hostd:\n  E07: \"\"\n"} {
		if _, err := ParsePending("p", []byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := PendingExercises(); err != nil {
		t.Errorf("pending.yaml: %v", err)
	}
}
