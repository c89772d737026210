package transcripts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns/kernel"
)

// terminal is one host's terminal: a shell on a pseudo-terminal, as a
// student's ssh session has. The shell is interactive, with job control,
// so Ctrl-C reaches the command in the foreground and `docker exec -it`
// finds a terminal. The runner delimits each command's output with marks
// the shell (or the container shell) prints before and after it; what is
// typed is never echoed by the outer shell (echo off), and the container
// shell's echo of a typed line is not between its marks.
type terminal struct {
	cmd  *exec.Cmd
	ptm  *os.File
	mark string
	done chan struct{}

	mu   sync.Mutex
	raw  []byte
	more chan struct{} // a token whenever raw grows or the terminal ends
	eof  bool

	// pos is where the output not yet read by a step starts, in the
	// cleaned text; inside says a container shell is open.
	pos    int
	inside bool
}

// termCols is the terminal's width: wide enough that no line a transcript
// looks at wraps (ps, a shell's echo of a long command).
const termCols = 1000

func openTerminal(cmd *exec.Cmd, env []string) (*terminal, error) {
	b := make([]byte, 8)
	rand.Read(b)
	t := &terminal{cmd: cmd, mark: "__nslab_" + hex.EncodeToString(b), done: make(chan struct{}), more: make(chan struct{}, 1)}
	// PS1 and PS2 empty: the prompts would land in the commands' output.
	cmd.Env = append(env, "PS1=", "PS2=", "TERM=xterm")
	cmd.Dir = "/"
	ptm, pts, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open a terminal: %w", err)
	}
	defer pts.Close()
	if err := pty.Setsize(ptm, &pty.Winsize{Rows: 50, Cols: termCols}); err != nil {
		ptm.Close()
		return nil, fmt.Errorf("terminal size: %w", err)
	}
	// What the runner types is not shown back: the output is the commands'.
	if err := echoOff(pts); err != nil {
		ptm.Close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	// A session of its own with the terminal as its controlling one, as a
	// login has: the shell's job control makes each command the
	// foreground process group that Ctrl-C signals.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		ptm.Close()
		return nil, fmt.Errorf("start shell: %w", err)
	}
	t.ptm = ptm
	go t.read()
	go func() {
		cmd.Wait()
		close(t.done)
	}()
	return t, nil
}

// echoOff turns the terminal's echo off.
func echoOff(f *os.File) error {
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		return fmt.Errorf("terminal attributes: %w", err)
	}
	tio.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, tio); err != nil {
		return fmt.Errorf("terminal attributes: %w", err)
	}
	return nil
}

// read collects the terminal's output until it ends.
func (t *terminal) read() {
	buf := make([]byte, 32*1024)
	for {
		n, err := t.ptm.Read(buf)
		t.mu.Lock()
		t.raw = append(t.raw, buf[:n]...)
		if err != nil {
			t.eof = true
		}
		t.mu.Unlock()
		select {
		case t.more <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// escapes are the terminal's control sequences (colours, cursor motion, a
// line editor's redraws), which a screen shows as nothing.
var escapes = regexp.MustCompile(`\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78DEHMc])`)

// text is the output so far as a screen shows it, one \n per line.
func (t *terminal) text() (string, bool) {
	t.mu.Lock()
	raw, eof := string(t.raw), t.eof
	t.mu.Unlock()
	s := escapes.ReplaceAllString(raw, "")
	s = strings.Map(func(r rune) rune {
		if r < ' ' && r != '\n' && r != '\t' {
			return -1
		}
		return r
	}, s)
	return s, eof
}

// errEnded says the terminal's shell is gone.
var errEnded = errors.New("the terminal's shell ended")

// await waits until cond holds on the output from t.pos, or the deadline.
func (t *terminal) await(ctx context.Context, deadline time.Time, cond func(out string) bool) (string, error) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		s, eof := t.text()
		out := s[t.pos:]
		if cond(out) {
			return out, nil
		}
		if eof {
			select {
			case <-t.done:
				return out, fmt.Errorf("%w (%s)", errEnded, t.cmd.ProcessState)
			case <-time.After(time.Second):
				return out, errEnded
			}
		}
		select {
		case <-t.more:
		case <-timer.C:
			return out, errTimeout
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
}

var errTimeout = errors.New("timed out")

// keys writes s to the terminal, as keys typed.
func (t *terminal) keys(s string) error {
	if _, err := t.ptm.WriteString(s); err != nil {
		return fmt.Errorf("the terminal is gone: %w", err)
	}
	return nil
}

// marks are the lines printed around a command's output: start, and end
// followed by the exit status. The outer shell's and a container shell's
// differ, so that a container shell that ends shows as the outer end.
func (t *terminal) marks(inner bool) (start, end string) {
	if inner {
		return t.mark + "_i", t.mark + "_I"
	}
	return t.mark + "_o", t.mark + "_O"
}

// between finds the output between the start mark's line and the end
// mark's line in out: the output, the status, and the offset just after
// the end line; ok is false while the end line has not come.
func between(out, start, end string) (body string, status, next int, ok bool) {
	i := markIndex(out, start)
	if i < 0 {
		return "", 0, 0, false
	}
	body = out[i+len(start)+1:]
	m := endIndex(body, end)
	if m == nil {
		return body, 0, 0, false
	}
	status, _ = strconv.Atoi(body[m[2]:m[3]])
	next = i + len(start) + 1 + m[1]
	// The newline printed before the end mark.
	return strings.TrimSuffix(body[:m[0]], "\n"), status, next, true
}

// markIndex is where the mark printed as a line (mark and a newline)
// starts in out, or -1. It need not start a line: a container shell's
// prompt comes before it when the shell does not echo what is typed. A
// shell's echo of the typed line never matches: there a ';' follows the
// mark.
func markIndex(out, mark string) int { return strings.Index(out, mark+"\n") }

// shQuote quotes s for the shell.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// kill ends the shell and every process of its session (what its
// commands started, in their own process groups).
func (t *terminal) kill() {
	if t.cmd.Process == nil {
		return
	}
	sid := t.cmd.Process.Pid
	syscall.Kill(sid, syscall.SIGKILL)
	for _, pid := range sessionProcesses(sid) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// sessionProcesses lists the processes of session sid.
func sessionProcesses(sid int) []int {
	pids, _ := kernel.Processes()
	var out []int
	for _, pid := range pids {
		if st, err := kernel.ReadProcessStat(pid); err == nil && st.Session == sid {
			out = append(out, pid)
		}
	}
	return out
}

// close ends the terminal as a closed ssh session does: the line hangs up
// (SIGHUP to the shell and its foreground command); whatever lingers in
// its session is killed.
func (t *terminal) close() {
	t.ptm.Close()
	select {
	case <-t.done:
	case <-time.After(2 * time.Second):
	}
	t.kill()
	<-t.done
}

// step types one step of a transcript and returns what it printed and its
// exit status. A host command runs through eval, so that what it sets
// (pid=...) stays in the shell and a trailing & or comment keeps its
// meaning; a line typed in a container shell is typed as it is, between
// the marks. A step that opens a container shell returns once the shell's
// prompt has come, with what was printed before it; a line that ends the
// container shell (exit) returns the status of the command that opened it.
func (t *terminal) step(ctx context.Context, st Step, cmd string, expect []Expectation, deadline time.Time) (string, int, error) {
	start, end := t.marks(st.Inside)
	line := fmt.Sprintf("printf '%%s\\n' %s; eval %s; printf '\\n%%s %%d\\n' %s $?\n", start, shQuote(cmd), end)
	if st.Inside {
		if !t.inside {
			return "", -1, errors.New("no container shell is open in this terminal")
		}
		// As a person would: wait for the prompt, then type.
		if _, err := t.await(ctx, deadline, func(out string) bool { return strings.HasSuffix(out, ContainerPrompt) }); err != nil {
			return "", -1, fmt.Errorf("waiting for the prompt %q: %w", ContainerPrompt, err)
		}
		line = fmt.Sprintf("printf '%%s\\n' %s; %s; printf '\\n%%s %%d\\n' %s $?\n", start, cmd, end)
	}
	if err := t.keys(line); err != nil {
		return "", -1, err
	}
	if st.Interrupt {
		if err := t.interrupt(ctx, deadline, start, expect[:st.InterruptAfter]); err != nil {
			return "", -1, err
		}
	}
	if st.Opens {
		return t.opened(ctx, deadline)
	}
	return t.finish(ctx, deadline, st.Inside)
}

// interrupt types Ctrl-C once every expected line in expect has appeared
// in the output after the start mark.
func (t *terminal) interrupt(ctx context.Context, deadline time.Time, start string, expect []Expectation) error {
	_, err := t.await(ctx, deadline, func(out string) bool {
		i := markIndex(out, start)
		if i < 0 {
			return false
		}
		for _, e := range expect {
			if !e.Negate && !e.match(out[i:]) {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("waiting for the output to type ^C after: %w", err)
	}
	return t.keys("\x03")
}

// opened waits for the prompt of the container shell a step opened and
// returns what came before it; the step's exit status is the one its
// shell ends with, at its exit.
func (t *terminal) opened(ctx context.Context, deadline time.Time) (string, int, error) {
	start, end := t.marks(false)
	out, err := t.await(ctx, deadline, func(out string) bool {
		_, _, _, ended := between(out, start, end)
		return ended || markIndex(out, start) >= 0 && strings.HasSuffix(out, ContainerPrompt)
	})
	body, status, next, ended := between(out, start, end)
	switch {
	case ended:
		t.pos += next
		return body, status, fmt.Errorf("ended with status %d before the prompt %q of a container shell", status, ContainerPrompt)
	case err != nil:
		return body, -1, fmt.Errorf("waiting for the prompt %q: %w", ContainerPrompt, err)
	}
	// The prompt stays unread: the next line typed waits for it.
	t.pos += len(out) - len(ContainerPrompt)
	t.inside = true
	return strings.TrimSuffix(body, ContainerPrompt), 0, nil
}

// finish waits for the end mark of the command typed last and returns its
// output and status. In a container shell, the outer shell's end mark
// instead says the container shell ended (exit): its status is the one
// the command that opened it ended with.
func (t *terminal) finish(ctx context.Context, deadline time.Time, inside bool) (string, int, error) {
	start, end := t.marks(inside)
	_, oend := t.marks(false)
	out, err := t.await(ctx, deadline, func(out string) bool {
		_, _, _, done := between(out, start, end)
		return done || inside && endIndex(out, oend) != nil
	})
	body, status, next, done := between(out, start, end)
	if !done && inside {
		if m := endIndex(out, oend); m != nil {
			// The container shell is gone; the outer start mark was
			// read when it opened.
			body = out[:m[0]]
			if i := markIndex(body, start); i >= 0 {
				body = body[i+len(start)+1:]
			}
			status, _ = strconv.Atoi(out[m[2]:m[3]])
			t.pos += m[1]
			t.inside = false
			return strings.TrimSuffix(body, "\n"), status, nil
		}
	}
	if err != nil {
		return body, -1, fmt.Errorf("no end: %w", err)
	}
	t.pos += next
	return body, status, nil
}

// endIndex finds the line "end N" in out: the submatch indexes of the line
// and of N, or nil.
func endIndex(out, end string) []int {
	return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(end) + ` (\d+)\n`).FindStringSubmatchIndex(out)
}
