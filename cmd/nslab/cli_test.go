package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
)

// runCLI runs a command line in-process and returns its outputs and status.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestSplitTarget(t *testing.T) {
	for _, tc := range []struct {
		in              string
		host, container string
		bad             bool
	}{
		{in: "node1", host: "node1"},
		{in: "node1/cm01", host: "node1", container: "cm01"},
		{in: "node1/", bad: true},
		{in: "/cm01", bad: true},
		{in: "", bad: true},
		{in: "a/b/c", bad: true},
	} {
		h, c, err := splitTarget(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("splitTarget(%q) = %q, %q; want an error", tc.in, h, c)
			}
			continue
		}
		if err != nil || h != tc.host || c != tc.container {
			t.Errorf("splitTarget(%q) = %q, %q, %v; want %q, %q", tc.in, h, c, err, tc.host, tc.container)
		}
	}
}

func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		target  string
		command []string
		bad     bool
	}{
		{in: []string{"node1", "--", "ip", "-o", "addr"}, target: "node1", command: []string{"ip", "-o", "addr"}},
		{in: []string{"node1", "ip", "-o", "addr"}, target: "node1", command: []string{"ip", "-o", "addr"}},
		// Only the first -- separates; the command keeps its own.
		{in: []string{"node1", "--", "sh", "-c", "echo", "--", "x"}, target: "node1", command: []string{"sh", "-c", "echo", "--", "x"}},
		{in: []string{"node1", "--"}, bad: true},
		{in: []string{"node1"}, bad: true},
		{in: []string{"--", "ip"}, bad: true},
		{in: nil, bad: true},
	} {
		target, command, err := splitCommand(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("splitCommand(%q) = %q, %q; want an error", tc.in, target, command)
			}
			continue
		}
		if err != nil || target != tc.target || !slices.Equal(command, tc.command) {
			t.Errorf("splitCommand(%q) = %q, %q, %v; want %q, %q", tc.in, target, command, err, tc.target, tc.command)
		}
	}
}

func TestExecFlags(t *testing.T) {
	if got := execFlags(true, false); !slices.Equal(got, []string{"-it"}) {
		t.Errorf("terminal: %q, want -it", got)
	}
	if got := execFlags(false, true); !slices.Equal(got, []string{"-i"}) {
		t.Errorf("pipe: %q, want -i", got)
	}
	if got := execFlags(false, false); len(got) != 0 {
		t.Errorf("/dev/null: %q, want none", got)
	}
}

func TestIsStream(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if !isStream(int(r.Fd())) {
		t.Error("a pipe is not seen as a stream")
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isStream(int(null.Fd())) || isTerminal(int(null.Fd())) {
		t.Error("/dev/null is seen as a stream or a terminal")
	}
}

func TestDockerEnv(t *testing.T) {
	env := []string{"PATH=/usr/bin", "DOCKER_HOST=tcp://10.0.0.1:2376", "DOCKER_CONTEXT=remote", "DOCKER_TLS_VERIFY=1", "HOME=/root", "DOCKER_CONFIG=/cfg"}
	got := dockerEnv(env, "unix:///run/nslab/abc/node1/docker.sock")
	want := []string{"PATH=/usr/bin", "HOME=/root", "DOCKER_CONFIG=/cfg", "DOCKER_HOST=unix:///run/nslab/abc/node1/docker.sock"}
	if !slices.Equal(got, want) {
		t.Errorf("dockerEnv = %q, want %q", got, want)
	}
}

// fakeLabs makes state directories as Up reserves them; List reports a
// directory whose lab.json is not there yet with state "unknown".
func fakeLabs(t *testing.T, ids ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, id := range ids {
		if err := os.Mkdir(filepath.Join(root, id), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestSelectLab(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		a := &app{root: fakeLabs(t)}
		if _, err := a.selectLab(); err == nil || !strings.Contains(err.Error(), "no lab") {
			t.Errorf("selectLab with no lab: %v", err)
		}
	})
	t.Run("one", func(t *testing.T) {
		a := &app{root: fakeLabs(t, "abc1")}
		if id, err := a.selectLab(); err != nil || id != "abc1" {
			t.Errorf("selectLab = %q, %v; want abc1", id, err)
		}
	})
	t.Run("two", func(t *testing.T) {
		a := &app{root: fakeLabs(t, "abc1", "xyz2")}
		_, err := a.selectLab()
		if err == nil || !strings.Contains(err.Error(), "abc1") || !strings.Contains(err.Error(), "xyz2") || !strings.Contains(err.Error(), "--lab") {
			t.Errorf("selectLab with two labs: %v; want an error naming both and --lab", err)
		}
	})
	t.Run("flag", func(t *testing.T) {
		a := &app{root: fakeLabs(t, "abc1", "xyz2"), labID: "xyz2"}
		if id, err := a.selectLab(); err != nil || id != "xyz2" {
			t.Errorf("selectLab = %q, %v; want xyz2", id, err)
		}
	})
	t.Run("env", func(t *testing.T) {
		t.Setenv("NSLAB_LAB", "envlab")
		a := &app{}
		cmd := newRootCmd(a)
		if err := cmd.ParseFlags(nil); err != nil {
			t.Fatal(err)
		}
		if a.labID != "envlab" {
			t.Errorf("--lab default = %q, want $NSLAB_LAB", a.labID)
		}
		a = &app{}
		cmd = newRootCmd(a)
		if err := cmd.ParseFlags([]string{"--lab", "given"}); err != nil {
			t.Fatal(err)
		}
		if a.labID != "given" {
			t.Errorf("--lab given = %q, want the flag over $NSLAB_LAB", a.labID)
		}
	})
	t.Run("command", func(t *testing.T) {
		t.Setenv("NSLAB_LAB", "")
		root := fakeLabs(t, "abc1", "xyz2")
		_, stderr, code := runCLI(t, "--root", root, "exec", "node1", "--", "true")
		if code != 1 || !strings.Contains(stderr, "2 labs under") {
			t.Errorf("exec with two labs: code %d, stderr %q", code, stderr)
		}
	})
}

// Every broken topology is refused with file:line: field: message and
// status 2 before anything exists, not even the state root.
func TestUpRefusesBadTopology(t *testing.T) {
	files, err := filepath.Glob("../../fixtures/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid fixtures: %v", err)
	}
	located := regexp.MustCompile(`(?m)^nslab: \.\./\.\./fixtures/invalid/[a-z0-9-]+\.yaml:\d+: `)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			stdout, stderr, code := runCLI(t, "--root", root, "up", "--id", "badtopo", f)
			if code != 2 {
				t.Errorf("exit status %d, want 2 (stderr %q)", code, stderr)
			}
			if !located.MatchString(stderr) {
				t.Errorf("stderr %q does not locate the problem as FILE:LINE: ", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if _, err := os.Stat(root); !os.IsNotExist(err) {
				t.Errorf("the state root was made: %v", err)
			}
			if pins, _ := filepath.Glob("/run/netns/badtopo-*"); len(pins) > 0 {
				t.Errorf("pins were made: %v", pins)
			}
		})
	}
}

// A command line nslab cannot take is a usage error (status 2, a message
// naming what is wrong) found before any lab is looked for: the state root
// is not even made. A flag a verb does not take is refused, not ignored.
func TestUsageErrors(t *testing.T) {
	t.Setenv("NSLAB_LAB", "")
	root := filepath.Join(t.TempDir(), "root")
	badChecks := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(badChecks, []byte("checks:\n  - ping: {from: h1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string // in stderr, after "nslab: "
	}{
		{[]string{"up"}, ""},
		{[]string{"up", "a.yaml", "b.yaml"}, ""},
		{[]string{"up", "--id", "Bad-Id", "../../fixtures/single.yaml"}, ""},
		{[]string{"up", "--id", "ab", "../../fixtures/single.yaml"}, ""},
		{[]string{"up", "--no-such-flag", "../../fixtures/single.yaml"}, ""},
		{[]string{"up", "--runtime", "podman", "../../fixtures/single.yaml"}, `--runtime "podman": want hostd or dockerd`},
		{[]string{"up", "--runtime", "hostd", "--images", "x.tar", "../../fixtures/single.yaml"}, "--images x.tar: want a `docker save` archive"},
		{[]string{"up", "--on-demand", "--runtime", "dockerd", "../../fixtures/single.yaml"}, "--on-demand: hostd's only"},
		{[]string{"up", "--images", "../../fixtures/single.yaml", "../../fixtures/single.yaml"}, "--images ../../fixtures/single.yaml: want a `docker save` archive (not a tar archive"},
		{[]string{"exec", "node1"}, ""},
		{[]string{"exec", "node1", "--"}, ""},
		{[]string{"exec", "/cm01", "--", "ip", "a"}, ""},
		{[]string{"docker", "node1/cm01", "--", "ps"}, ""},
		{[]string{"graph", "--format", "png", "../../fixtures/single.yaml"}, ""},
		{[]string{"graph", "../../fixtures/invalid/duplicate-host.yaml"}, ""},
		{[]string{"ls", "extra"}, ""},
		{[]string{"gc", "extra"}, ""},
		{[]string{"etcd", "node1"}, "accepts 2 arg(s)"},
		{[]string{"etcd", "node1", "restart"}, "etcd node1 restart: want stop, start or status"},
		// A bad checks file is refused with FILE:LINE; so is a format
		// nslab cannot write.
		{[]string{"check", badChecks}, badChecks + ":2: checks[0].ping.to: required"},
		{[]string{"check", "--format", "xml", badChecks}, `--format "xml": want table, json or junit`},
		{[]string{"check", "--deadline", "-1s", badChecks}, `--deadline -1s: want a duration above 0`},
		{[]string{"gre", "node1"}, ""},
		{[]string{"gre", "node1", "frob"}, ""},
		{[]string{"gre", "node1", "add", "gre0", "local", "1.2.3.4"}, ""},
		{[]string{"gre", "node1", "del"}, ""},
		{[]string{"gre", "node1", "ls", "extra"}, ""},
		{[]string{"link", "node1", "eth1"}, "accepts 3 arg(s)"},
		{[]string{"link", "node1", "eth1", "frob"}, "want down, up, set, clear or show"},
		{[]string{"link", "node1", "eth1", "set"}, "give --rate, --loss or --delay"},
		{[]string{"link", "node1", "eth1", "set", "--rate", "10mbps"}, "tc reads bps as bytes per second"},
		{[]string{"link", "node1", "eth1", "set", "--loss", "150%"}, "from 0 to 100"},
		{[]string{"link", "node1", "eth1", "set", "--loss", "5%", "--dir", "sideways"}, `direction: "sideways"`},
		{[]string{"link", "node1", "eth1", "set", "--jitter", "2ms"}, "give delay too"},
		{[]string{"link", "node1", "eth1", "down", "--rate", "1mbit"}, "link down takes no --rate"},
		{[]string{"link", "node1", "eth1", "clear", "--json"}, "link clear takes no --json"},
	} {
		_, stderr, code := runCLI(t, append([]string{"--root", root}, c.args...)...)
		if code != 2 || !strings.HasPrefix(stderr, "nslab: ") || !strings.Contains(stderr, c.want) {
			t.Errorf("nslab %s: status %d, stderr %q; want 2 and a message with %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
	if _, err := lab.FindDockerd(""); err == nil {
		_, stderr, code := runCLI(t, "--root", root, "up", "--runtime", "dockerd", "--images", filepath.Join(t.TempDir(), "none.tar"), "../../fixtures/single.yaml")
		if code != 2 || !strings.Contains(stderr, "want a `docker save` archive") {
			t.Errorf("--images of a missing file: status %d, stderr %q", code, stderr)
		}
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("a usage error made the state root: %v", err)
	}
}

// A command line nslab takes, without a lab under the root: the missing lab
// is the error (status 1). Every file shipped in fixtures/checks is read
// before the lab is looked for.
func TestNoLab(t *testing.T) {
	t.Setenv("NSLAB_LAB", "")
	root := t.TempDir()
	commands := [][]string{
		{"inspect"}, {"down"}, {"exec", "node1", "--", "true"}, {"docker", "node1", "--", "ps"}, {"graph"},
		{"gre", "node1", "ls"}, {"link", "node1", "eth1", "show"},
	}
	checks, _ := filepath.Glob("../../fixtures/checks/*.yaml")
	if len(checks) == 0 {
		t.Fatal("no checks file in ../../fixtures/checks")
	}
	for _, f := range checks {
		commands = append(commands, []string{"check", f})
	}
	for _, args := range commands {
		_, stderr, code := runCLI(t, append([]string{"--root", root}, args...)...)
		if code != 1 || !strings.Contains(stderr, "no lab under "+root) {
			t.Errorf("nslab %s without a lab: status %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
	}
	_, stderr, code := runCLI(t, "--root", root, "--lab", "nolab", "inspect")
	if code != 1 || !strings.Contains(stderr, `no lab "nolab"`) {
		t.Errorf("inspect --lab nolab: status %d, stderr %q", code, stderr)
	}
}

func TestLsEmpty(t *testing.T) {
	root := t.TempDir()
	stdout, _, code := runCLI(t, "--root", root, "ls", "--json")
	if code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("ls --json with no lab: status %d, %q; want []", code, stdout)
	}
	stdout, _, code = runCLI(t, "--root", root, "ls")
	if code != 0 || strings.TrimSpace(stdout) != "ID  NAME  HOSTS  OWNER  STATE  CREATED" {
		t.Errorf("ls with no lab: status %d, %q; want the header only", code, stdout)
	}
}

func TestLabTable(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	var many []string
	for i := range 30 {
		many = append(many, "host"+string(rune('a'+i%26))+string(rune('0'+i/26)))
	}
	labs := []lab.Summary{
		{ID: "class", Name: "classroom", Owner: 4242, Alive: true, Hosts: []string{"node1", "node2"}, Created: now.Add(-90 * time.Second), State: "up"},
		{ID: "big1", Name: "bench", Owner: 17, Alive: false, Hosts: many, Created: now.Add(-time.Hour), State: "starting"},
		{ID: "odd1", State: "unknown"},
	}
	var b bytes.Buffer
	if err := writeLabTable(&b, labs, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	want := [][]string{
		{"ID", "NAME", "HOSTS", "OWNER", "STATE", "CREATED"},
		{"class", "classroom", "node1,node2", "4242", "up", "1m30s", "ago"},
		{"big1", "bench", "hosta0,...", "(30)", "17", "(gone)", "starting", "1h0m0s", "ago"},
		{"odd1", "-", "-", "0", "(gone)", "unknown", "-"},
	}
	if len(lines) != len(want) {
		t.Fatalf("table:\n%s\nwant %d lines", b.String(), len(want))
	}
	for i, l := range lines {
		if got := strings.Fields(l); !slices.Equal(got, want[i]) {
			t.Errorf("line %d: %q, want %q", i, got, want[i])
		}
	}
	// Columns line up: every row's OWNER starts where the header's does.
	col := strings.Index(lines[0], "OWNER")
	for _, l := range lines[1:] {
		if l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("row %q: OWNER column does not start at %d", l, col)
		}
	}
}

func TestFreeContainerName(t *testing.T) {
	h := lab.HostSpec{Containers: []lab.ContainerSpec{{Name: "cm01"}, {Name: "web"}, {Name: "cm02"}}}
	if got := freeContainerName(h); got != "cm03" {
		t.Errorf("freeContainerName = %q, want cm03", got)
	}
	if got := freeContainerName(lab.HostSpec{}); got != "cm01" {
		t.Errorf("freeContainerName of an empty host = %q, want cm01", got)
	}
}
