package transcripts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/nslab/nslab/lab"
)

// Runner runs transcripts on a running lab.
type Runner struct {
	Lab *lab.Lab
	// Nslab is the nslab executable that [lab] steps run; "" makes them
	// fail with a clear error.
	Nslab string
	// Log receives every command and its output, as a terminal shows them.
	Log io.Writer
	// Timeout bounds one command (default 60 s).
	Timeout time.Duration
}

// StepError says which step of a transcript failed and why, with the
// output the step printed.
type StepError struct {
	File   string
	Line   int
	Host   string
	Cmd    string
	Why    string
	Output string
}

func (e *StepError) Error() string {
	return fmt.Sprintf("%s:%d: [%s] $ %s\n%s\noutput:\n%s", e.File, e.Line, e.Host, e.Cmd, e.Why, e.Output)
}

// Run runs every step of t in order and checks its output; the first
// failure ends the run.
func (r *Runner) Run(ctx context.Context, t *Transcript) error {
	if r.Log == nil {
		r.Log = io.Discard
	}
	if r.Timeout <= 0 {
		r.Timeout = 60 * time.Second
	}
	terms := map[string]*terminal{}
	defer func() {
		for _, term := range terms {
			term.close()
		}
	}()
	for _, st := range t.Steps {
		cmd := r.expand(st.Command)
		term, ok := terms[st.Terminal()]
		if !ok {
			var err error
			if term, err = r.open(ctx, st.Host); err != nil {
				return &StepError{File: t.File, Line: st.Line, Host: st.Terminal(), Cmd: cmd, Why: err.Error()}
			}
			terms[st.Terminal()] = term
		}
		prompt := "$ "
		if st.Inside {
			prompt = ContainerPrompt
		}
		fmt.Fprintf(r.Log, "[%s] %s%s\n", st.Terminal(), prompt, cmd)
		expect := r.expectations(st.Expect)
		out, status, err := term.step(ctx, st, cmd, expect, time.Now().Add(r.Timeout))
		if out != "" && !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		io.WriteString(r.Log, out)
		if err := check(st, expect, out, status, err); err != nil {
			err.File, err.Host, err.Cmd, err.Output = t.File, st.Terminal(), cmd, out
			return err
		}
	}
	return nil
}

// expectations are es with {lab} expanded.
func (r *Runner) expectations(es []Expectation) []Expectation {
	out := make([]Expectation, len(es))
	for i, e := range es {
		e.Text = r.expand(e.Text)
		if e.Regex {
			e.re = regexp.MustCompile(r.expand(e.re.String()))
		}
		out[i] = e
	}
	return out
}

// check holds a step's result to the transcript: its exit status, then
// each expected line.
func check(st Step, expect []Expectation, out string, status int, err error) *StepError {
	switch {
	case err != nil:
		return &StepError{Line: st.Line, Why: err.Error()}
	case st.MustFail && status == 0:
		return &StepError{Line: st.Line, Why: "exit status 0; the transcript says this command fails"}
	case !st.MustFail && status != 0:
		return &StepError{Line: st.Line, Why: fmt.Sprintf("exit status %d", status)}
	}
	for _, e := range expect {
		if e.match(out) == e.Negate {
			what := "no output line satisfies"
			if e.Negate {
				what = "an output line satisfies"
			}
			return &StepError{Line: e.Line, Why: what + ": " + e.String()}
		}
	}
	return nil
}

// expand replaces {lab} with the lab id.
func (r *Runner) expand(s string) string { return strings.ReplaceAll(s, "{lab}", r.Lab.ID()) }

// open starts the terminal of a host, in its namespaces; [lab]'s runs
// nslab about this lab.
func (r *Runner) open(ctx context.Context, host string) (*terminal, error) {
	env := []string{}
	for _, kv := range os.Environ() {
		// ENV would be read by the interactive shell; DOCKER_* and NSLAB_*
		// point at some daemon or lab of the machine.
		if !strings.HasPrefix(kv, "DOCKER_") && !strings.HasPrefix(kv, "NSLAB_") && !strings.HasPrefix(kv, "ENV=") {
			env = append(env, kv)
		}
	}
	if host == LabHost {
		if r.Nslab == "" {
			return nil, errors.New("this transcript runs nslab commands, and no nslab binary was given (NSLAB_BIN)")
		}
		env = append(env, "NSLAB_LAB="+r.Lab.ID(), "NSLAB_BIN="+r.Nslab,
			"NSLAB_ROOT="+filepath.Dir(r.Lab.StateDir()))
		term, err := openTerminal(exec.Command("sh"), env)
		if err != nil {
			return nil, err
		}
		// nslab is a shell function: the lab's own binary, about this lab.
		def := `nslab() { "$NSLAB_BIN" --root "$NSLAB_ROOT" --lab "$NSLAB_LAB" "$@"; }`
		if _, st, err := term.step(ctx, Step{}, def, nil, time.Now().Add(r.Timeout)); err != nil || st != 0 {
			term.close()
			return nil, fmt.Errorf("define nslab in the shell: status %d: %v", st, err)
		}
		return term, nil
	}
	h, err := r.Lab.Host(host)
	if err != nil {
		return nil, err
	}
	// No DOCKER_HOST: the CLI finds the host's own daemon at
	// /var/run/docker.sock, in the host's /run; a plain host has none.
	return openTerminal(h.Command(context.Background(), "sh"), env)
}
