package transcripts

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/labtest"
)

// Every transcript of the repository parses, names a topology that loads,
// and needs exercises.
func TestRepositoryTranscripts(t *testing.T) {
	ts, err := Load(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) == 0 {
		t.Fatal("no transcripts in transcripts/")
	}
	seeds := map[string]bool{}
	for _, tr := range ts {
		seeds[tr.Seed] = true
		if _, err := lab.LoadTopology(filepath.Join("..", "fixtures", tr.Topology+".yaml")); err != nil {
			t.Errorf("%s: topology %s: %v", tr.File, tr.Topology, err)
		}
		if tr.Title == "" || tr.Seed == "" {
			t.Errorf("%s: title and seed headers are required", tr.File)
		}
	}
	for _, s := range []string{"000", "001", "002", "003", "004"} {
		if !seeds[s] {
			t.Errorf("no transcript of seed %s", s)
		}
	}
}

func TestParse(t *testing.T) {
	tr, err := Parse("x.txt", []byte(`# comment
title: t
seed: 001
topology: single
needs: E01 E02
[host1]
$ echo hi
> hi
~ ^h.$
!> bye
!~ ^b
$! false
[lab]
$ nslab ls
[h]
$ docker exec -it c ash
/ # ping x
> 64 bytes
^C
> round-trip
/ #! false
/ # exit
`))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Name != "x" || tr.Topology != "single" || strings.Join(tr.Needs, ",") != "E01,E02" || len(tr.Steps) != 7 {
		t.Fatalf("%+v", tr)
	}
	s := tr.Steps[0]
	if s.Host != "host1" || s.Command != "echo hi" || s.MustFail || len(s.Expect) != 4 || s.Line != 7 {
		t.Errorf("step 1: %+v", s)
	}
	if e := s.Expect[3]; !e.Negate || !e.Regex || e.Text != "^b" {
		t.Errorf("expectation: %+v", e)
	}
	if !tr.Steps[1].MustFail || tr.Steps[2].Host != LabHost {
		t.Errorf("steps: %+v", tr.Steps)
	}
	if o, in, ex := tr.Steps[3], tr.Steps[4], tr.Steps[5]; !o.Opens || o.Inside || !in.Inside || in.Command != "ping x" ||
		!in.Interrupt || in.InterruptAfter != 1 || len(in.Expect) != 2 || !ex.Inside || !ex.MustFail || ex.Command != "false" || ex.Opens {
		t.Errorf("container shell steps: %+v", tr.Steps[3:])
	}

	for _, bad := range []struct{ text, want string }{
		{"topology: s\nneeds: E01\n$ echo", "x.txt:3: a command before the first [host] line"},
		{"topology: s\nneeds: E01\n[h]\n> x", "x.txt:4: an expected output line before any command"},
		{"topology: s\nneeds: X1\n[h]\n$ true", "x.txt:2: needs: \"X1\""},
		{"topology: s\nneeds: E01\n[h]\n$ true\n~ (", "x.txt:5: error parsing regexp"},
		{"topology: s\nneeds: E01\n[lab]\n$ rm -rf /", "x.txt:4: [lab] runs nslab commands only"},
		{"needs: E01\n[h]\n$ true", "x.txt:1: no topology"},
		{"topology: s\nneeds: E01\nfrobnicate: 1\n[h]\n$ true", "x.txt:3: unknown header"},
		{"topology: s\nneeds: E01\n[h]\n$ true\nplain words", "x.txt:5: not a command"},
		{"topology: s\nneeds: E01\n[h]\n/ # ip a", "x.txt:4: a line at the container prompt with no command before it"},
		{"topology: s\nneeds: E01\n[h]\n$ sh\n/ # exit\n/ # ip a", "x.txt:6: a line at the container prompt after its shell was left"},
		{"topology: s\nneeds: E01\n[h]\n$ sh\n/ # ip a\n$ ip a", "x.txt:6: a command for h while its terminal is in a container shell"},
		{"topology: s\nneeds: E01\n[h]\n$ ping x\n^C", "x.txt:5: ^C with no output line above it"},
		{"topology: s\nneeds: E01\n^C", "x.txt:3: ^C before any command"},
		{"topology: s\nneeds: E01\n[h]\n$ sh\n/ # ip a\n[h:2]\n$ ip a\n[h]\n$ ip a", "x.txt:9: a command for h while its terminal is in a container shell"},
		{"topology: s\nneeds: E01\n[h:1]\n$ true", "x.txt:3: unknown header \"[h\""},
	} {
		_, err := Parse("x.txt", []byte(bad.text))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: error %v, want %q", bad.text, err, bad.want)
		}
	}
}

// The runner types each command in a shell of its host, keeps shell
// variables between commands, and reports the failing line with the output.
func TestRun(t *testing.T) {
	topo := &lab.Topology{
		Name:     "transcript",
		Segments: []lab.Segment{{Name: "lan0", Prefix: netip.MustParsePrefix("10.98.0.0/24")}},
		Hosts: []lab.HostSpec{
			{Name: "a", Kind: lab.KindPlain, Interfaces: []lab.InterfaceSpec{{Segment: "lan0", Address: netip.MustParsePrefix("10.98.0.1/24")}}},
			{Name: "b", Kind: lab.KindPlain, Interfaces: []lab.InterfaceSpec{{Segment: "lan0", Address: netip.MustParsePrefix("10.98.0.2/24")}}},
		},
	}
	// labtest skips without root, and takes the lab down when the test ends.
	l := labtest.Up(t, topo, labtest.WithOptions(lab.Options{Root: t.TempDir()})).Lab
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	var log strings.Builder
	r := Runner{Lab: l, Log: &log, Timeout: 5 * time.Second}
	good, err := Parse("good.txt", []byte(`topology: x
needs: E01
[a]
$ x=10.98.0.2
$ ip -o addr show eth1
> inet 10.98.0.1/24
$ ping -c 1 -W 2 $x
~ \b1 received\b
$ echo {lab}; printf no-newline
> `+l.ID()+`
> no-newline
$! ip link show nothere
> does not exist
$ ping $x
> 64 bytes from 10.98.0.2
^C
~ \b0% packet loss
$ tty
> /dev/pts/
$ env PS1='/ # ' busybox sh
/ # y=inside; echo "$y $((6*7))"
> inside 42
!> y=inside
[a:2]
$ echo "x is '$x' in a second terminal"; tty
> x is '' in a second terminal
> /dev/pts/
[a]
/ # ping 10.98.0.2
> 64 bytes from 10.98.0.2
^C
~ \b0% packet loss
/ #! ping -c 1 -W 1 10.98.0.9
~ \b100% packet loss
/ # exit
$ echo "y is '$y' here"
> y is '' here
[b]
$ echo "x is '$x' here"
> x is '' here
$! docker ps
> unix:///var/run/docker.sock
$ ls /var/run
!> docker.sock
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx, good); err != nil {
		t.Fatalf("%v\nlog:\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "[a] $ ping -c 1 -W 2 $x") {
		t.Errorf("the log shows the commands as typed:\n%s", log.String())
	}

	for _, bad := range []struct{ text, line, why string }{
		{"[a]\n$ false", "bad.txt:4", "exit status 1"},
		{"[a]\n$ true\n$! true", "bad.txt:5", "exit status 0"},
		{"[a]\n$ echo one\n> two", "bad.txt:5", "no output line satisfies: > two"},
		{"[a]\n$ echo one\n!~ ^o", "bad.txt:5", "an output line satisfies: !~ ^o"},
		{"[a]\n$ sleep 30", "bad.txt:4", "no end: timed out"},
		{"[nohost]\n$ true", "bad.txt:4", "no host"},
		{"[lab]\n$ nslab ls", "bad.txt:4", "no nslab binary"},
	} {
		tr, err := Parse("bad.txt", []byte("topology: x\nneeds: E01\n"+bad.text))
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(ctx, tr)
		var se *StepError
		if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), bad.line) || !strings.Contains(err.Error(), bad.why) {
			t.Errorf("%q: %v; want %s ... %s", bad.text, err, bad.line, bad.why)
		}
	}
}
