package transcripts

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
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
	shells := map[string]*shell{}
	defer func() {
		for _, s := range shells {
			s.close()
		}
	}()
	for _, st := range t.Steps {
		cmd := r.expand(st.Command)
		sh, ok := shells[st.Host]
		if !ok {
			var err error
			if sh, err = r.open(ctx, st.Host); err != nil {
				return &StepError{File: t.File, Line: st.Line, Host: st.Host, Cmd: cmd, Why: err.Error()}
			}
			shells[st.Host] = sh
		}
		fmt.Fprintf(r.Log, "[%s] $ %s\n", st.Host, cmd)
		out, status, err := sh.run(ctx, cmd, r.Timeout)
		io.WriteString(r.Log, out)
		fail := func(why string) error {
			return &StepError{File: t.File, Line: st.Line, Host: st.Host, Cmd: cmd, Why: why, Output: out}
		}
		switch {
		case err != nil:
			return fail(err.Error())
		case st.MustFail && status == 0:
			return fail("exit status 0; the transcript says this command fails")
		case !st.MustFail && status != 0:
			return fail(fmt.Sprintf("exit status %d", status))
		}
		for _, e := range st.Expect {
			e.Text = r.expand(e.Text)
			if e.Regex {
				e.re = regexp.MustCompile(r.expand(e.re.String()))
			}
			if e.match(out) == e.Negate {
				what := "no output line satisfies"
				if e.Negate {
					what = "an output line satisfies"
				}
				return &StepError{File: t.File, Line: e.Line, Host: st.Host, Cmd: cmd, Why: what + ": " + e.String(), Output: out}
			}
		}
	}
	return nil
}

// expand replaces {lab} with the lab id.
func (r *Runner) expand(s string) string { return strings.ReplaceAll(s, "{lab}", r.Lab.ID()) }

// open starts the shell of a host, in its namespaces; [lab]'s runs nslab
// about this lab.
func (r *Runner) open(ctx context.Context, host string) (*shell, error) {
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_") && !strings.HasPrefix(kv, "NSLAB_") {
			env = append(env, kv)
		}
	}
	var cmd *exec.Cmd
	if host == LabHost {
		if r.Nslab == "" {
			return nil, errors.New("this transcript runs nslab commands, and no nslab binary was given (NSLAB_BIN)")
		}
		// nslab is a shell function: the lab's own binary, about this lab.
		cmd = exec.Command("sh")
		env = append(env, "NSLAB_LAB="+r.Lab.ID(), "NSLAB_BIN="+r.Nslab,
			"NSLAB_ROOT="+filepath.Dir(r.Lab.StateDir()))
		s, err := startShell(cmd, env)
		if err != nil {
			return nil, err
		}
		if _, st, err := s.run(ctx, `nslab() { "$NSLAB_BIN" --root "$NSLAB_ROOT" --lab "$NSLAB_LAB" "$@"; }`, r.Timeout); err != nil || st != 0 {
			s.close()
			return nil, fmt.Errorf("define nslab in the shell: status %d: %v", st, err)
		}
		return s, nil
	}
	h, err := r.Lab.Host(host)
	if err != nil {
		return nil, err
	}
	// No DOCKER_HOST: the CLI finds the host's own daemon at
	// /var/run/docker.sock, in the host's /run; a plain host has none.
	return startShell(h.Command(context.Background(), "sh"), env)
}

// shell is one host's terminal: a shell reading commands on its stdin.
type shell struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	mark string
	done chan struct{}
}

func startShell(cmd *exec.Cmd, env []string) (*shell, error) {
	b := make([]byte, 8)
	rand.Read(b)
	s := &shell{cmd: cmd, mark: "__nslab_transcript_" + hex.EncodeToString(b) + "__", done: make(chan struct{})}
	cmd.Env = env
	cmd.Dir = "/"
	// A group of its own: a timeout kills whatever the commands started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("start shell: %w", err)
	}
	pw.Close()
	s.in, s.out = in, bufio.NewReader(pr)
	go func() {
		cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

// run types one command and returns what it printed (stdout and stderr)
// and its exit status. Its stdin is /dev/null: a command must not eat the
// lines typed after it.
func (s *shell) run(ctx context.Context, command string, timeout time.Duration) (string, int, error) {
	script := fmt.Sprintf("{ %s\n} </dev/null 2>&1\nprintf '\\n%s %%d\\n' $?\n", command, s.mark)
	if _, err := io.WriteString(s.in, script); err != nil {
		return "", -1, fmt.Errorf("the shell is gone: %w", err)
	}
	type result struct {
		out    string
		status int
		err    error
	}
	ch := make(chan result, 1)
	go func() {
		var b strings.Builder
		for {
			line, err := s.out.ReadString('\n')
			if rest, ok := strings.CutPrefix(line, s.mark+" "); ok {
				st, _ := strconv.Atoi(strings.TrimSpace(rest))
				out := b.String()
				// The newline printed before the mark.
				out = strings.TrimSuffix(out, "\n")
				ch <- result{out: out, status: st}
				return
			}
			b.WriteString(line)
			if err != nil {
				ch <- result{out: b.String(), status: -1, err: fmt.Errorf("the shell ended: %w", err)}
				return
			}
		}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case res := <-ch:
		if res.err == nil && !strings.HasSuffix(res.out, "\n") && res.out != "" {
			res.out += "\n"
		}
		return res.out, res.status, res.err
	case <-t.C:
		s.kill()
		return "", -1, fmt.Errorf("no end in %s", timeout)
	case <-ctx.Done():
		s.kill()
		return "", -1, ctx.Err()
	}
}

func (s *shell) kill() {
	if s.cmd.Process != nil {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// close ends the shell: end of input, then its group is killed if it
// lingers.
func (s *shell) close() {
	s.in.Close()
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
		s.kill()
		<-s.done
	}
}
