package main

import (
	"strings"
	"testing"
)

// A typo of any command (two letters swapped) is refused with status 2,
// names what was typed and suggests the command; nothing goes to stdout,
// so a script cannot mistake the help text for output.
func TestUnknownCommandSuggestsNearest(t *testing.T) {
	cmds := newRootCmd(&app{}).Commands()
	if len(cmds) < 10 {
		t.Fatalf("only %d commands registered", len(cmds))
	}
	for _, c := range cmds {
		name := c.Name()
		typo := []byte(name)
		typo[0], typo[1] = typo[1], typo[0]
		if string(typo) == name {
			continue
		}
		stdout, stderr, code := runCLI(t, string(typo))
		want := `unknown command "` + string(typo) + `"`
		if code != 2 || stdout != "" || !strings.Contains(stderr, want) || !strings.Contains(stderr, "did you mean ") || !strings.Contains(stderr, " "+name) {
			t.Errorf("nslab %s: status %d, stdout %q, stderr %q; want 2, nothing on stdout, %s and `did you mean %s`", typo, code, stdout, stderr, want, name)
		}
	}
}

func TestRefusals(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string // in stderr
		not  string   // not in stderr
	}{
		{[]string{"nosuchcommand"}, []string{`nslab: unknown command "nosuchcommand" (see ` + "`nslab --help`)"}, "did you mean"},
		// The command is the first error, not the flags meant for it.
		{[]string{"nosuchcommand", "--rate", "1mbit"}, []string{`unknown command "nosuchcommand"`}, "flag"},
		{[]string{"--bogus"}, []string{"unknown flag: --bogus"}, ""},
		{[]string{"up", "--detatch", "../../fixtures/single.yaml"}, []string{"unknown flag: --detatch", "did you mean --detach?", "`nslab up --help`"}, ""},
		{[]string{"ls", "--jsno"}, []string{"unknown flag: --jsno", "did you mean --json?"}, ""},
		{[]string{"ls", "-z"}, []string{`unknown shorthand flag: 'z'`}, "did you mean"},
		{[]string{"help", "nosuchcommand"}, []string{`unknown command "nosuchcommand"`}, ""},
		{[]string{"help", "dwon"}, []string{"did you mean down?"}, ""},
	} {
		root := t.TempDir()
		stdout, stderr, code := runCLI(t, append([]string{"--root", root}, c.args...)...)
		ok := code == 2 && stdout == "" && (c.not == "" || !strings.Contains(stderr, c.not))
		for _, w := range c.want {
			ok = ok && strings.Contains(stderr, w)
		}
		if !ok {
			t.Errorf("nslab %s: status %d, stdout %q, stderr %q; want 2 and %q without %q", strings.Join(c.args, " "), code, stdout, stderr, c.want, c.not)
		}
	}
}

// `nslab` alone and `nslab help [COMMAND]` print help on stdout with
// status 0, as docker and kubectl do.
func TestHelp(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "Available Commands:"},
		{[]string{"help"}, "Available Commands:"},
		{[]string{"help", "up"}, "nslab up FILE"},
		{[]string{"--help"}, "Available Commands:"},
	} {
		stdout, stderr, code := runCLI(t, c.args...)
		if code != 0 || !strings.Contains(stdout, c.want) || stderr != "" {
			t.Errorf("nslab %s: status %d, stderr %q, stdout without %q:\n%s", strings.Join(c.args, " "), code, stderr, c.want, stdout)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"link", "link", 0}, {"lnik", "link", 2}, {"detatch", "detach", 1}, {"", "ls", 2}, {"kitten", "sitting", 3}} {
		if got := editDistance(c.a, c.b); got != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}
