package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/lab"
)

// A detached lab is owned by a keeper: this binary re-executed as
// `nslab up FILE --keeper` in a session of its own, so that closing the
// terminal or Ctrl-C in it does not reach the lab. The keeper builds the
// lab itself, which makes it the owner recorded in lab.json: if it dies
// (even by SIGKILL) `nslab gc` finds and removes the lab.
//
// Until the lab is up the keeper's stdout and stderr are a pipe the parent
// copies to its own stderr, so the user sees the progress and any error;
// then they move to <state dir>/keeper.log. The outcome travels on a
// second pipe (the keeper's fd 3): one line "ready ID", or nothing before
// it closes when the keeper fails.
const (
	keeperFlag   = "keeper"
	keeperLog    = "keeper.log"
	statusFD     = 3
	readyMessage = "ready"
)

// detach starts the keeper and waits for its verdict.
func (a *app) detach(file string, f upFlags) error {
	argv, err := a.keeperArgv(file, f)
	if err != nil {
		return err
	}
	k, err := startKeeper(argv)
	if err != nil {
		return err
	}
	line := k.await(a.stderr)
	id, ok := strings.CutPrefix(line, readyMessage+" ")
	if !ok {
		err := k.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			// The keeper has said why on the pipe we copied.
			return &exitError{code: 1}
		}
		return fmt.Errorf("keeper (pid %d) ended without the lab: %v", k.cmd.Process.Pid, err)
	}
	pid := k.cmd.Process.Pid
	k.cmd.Process.Release()
	l, err := a.open(id)
	if err != nil {
		return fmt.Errorf("keeper (pid %d) reported lab %s up, but: %w", pid, id, err)
	}
	printSummary(a.stdout, a.root, l, true)
	fmt.Fprintf(a.stdout, "keeper: pid %d, log %s\n", pid, filepath.Join(l.StateDir(), keeperLog))
	return nil
}

// keeperArgv is the keeper's command line: `nslab up FILE --keeper` with
// the user's flags, every path absolute (the keeper runs in /).
func (a *app) keeperArgv(file string, f upFlags) ([]string, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	root, err := filepath.Abs(a.root)
	if err != nil {
		return nil, err
	}
	argv := []string{"--root", root, "up", abs, "--" + keeperFlag, "--timeout", f.timeout.String()}
	if f.id != "" {
		argv = append(argv, "--id", f.id)
	}
	argv = append(argv, "--runtime", f.runtime)
	if f.onDemand {
		argv = append(argv, "--on-demand")
	}
	if f.images != "" {
		argv = append(argv, "--images", f.images)
	}
	return argv, nil
}

// keeper is a started keeper process and the read ends of its pipes.
type keeper struct {
	cmd            *exec.Cmd
	status, output *os.File
}

// startKeeper re-executes this binary with argv in a session of its own,
// its output and its status line on pipes.
func startKeeper(argv []string) (*keeper, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("cannot find the nslab binary to re-run as keeper: %w", err)
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		statusR.Close()
		statusW.Close()
		return nil, err
	}
	cmd := exec.Command(self, argv...)
	// A daemon keeps no directory of the user's busy.
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = outW, outW
	cmd.ExtraFiles = []*os.File{statusW} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	// The keeper holds the write ends now; ours must go, or the reads
	// would never see the end of them.
	statusW.Close()
	outW.Close()
	if err != nil {
		statusR.Close()
		outR.Close()
		return nil, fmt.Errorf("start keeper: %w", err)
	}
	return &keeper{cmd: cmd, status: statusR, output: outR}, nil
}

// await copies the keeper's output to w until it reports its status line
// (empty when it failed), passing on Ctrl-C as a stop, and closes the pipes.
func (k *keeper) await(w io.Writer) string {
	defer k.status.Close()
	defer k.output.Close()
	copied := make(chan struct{})
	go func() {
		io.Copy(w, k.output)
		close(copied)
	}()
	status := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(k.status).ReadString('\n')
		status <- strings.TrimSpace(line)
	}()
	// Ctrl-C while the lab is being built means "do not build it": the
	// keeper, in its own session, hears it only from us.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	var line string
wait:
	for {
		select {
		case s := <-sigs:
			fmt.Fprintf(w, "%v: stopping the keeper (pid %d)\n", s, k.cmd.Process.Pid)
			k.cmd.Process.Signal(syscall.SIGTERM)
		case line = <-status:
			break wait
		}
	}
	// The keeper's output ends when it exits or moves to its log; a
	// process that inherited the pipe by mistake must not hang us.
	select {
	case <-copied:
	case <-time.After(2 * time.Second):
	}
	return line
}

// keep is the keeper: it builds the lab, reports, and holds the lab until
// SIGTERM (from `nslab down`) or SIGINT.
func (a *app) keep(t *lab.Topology, f upFlags) error {
	if _, err := unix.FcntlInt(statusFD, unix.F_GETFD, 0); err != nil {
		return usageError(errors.New("--keeper is internal to `nslab up --detach`"))
	}
	status := os.NewFile(statusFD, "status")
	// The parent may be gone by the time we write (killed while waiting);
	// writes to a closed pipe must then fail, not kill the keeper.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	o, err := a.options(f)
	if err != nil {
		return err
	}
	// Progress goes to the parent now and to keeper.log once it exists.
	var early bytes.Buffer
	o.Progress = io.MultiWriter(&early, a.stderr)
	upCtx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	l, err := lab.Up(upCtx, t, o)
	if err != nil {
		return err
	}
	if err := logTo(filepath.Join(l.StateDir(), keeperLog), early.Bytes()); err != nil {
		down(l)
		return fmt.Errorf("lab %s: keeper: %w", l.ID(), err)
	}
	fmt.Fprintf(os.Stderr, "keeper: pid %d owns lab %s\n", os.Getpid(), l.ID())
	if _, err := fmt.Fprintf(status, "%s %s\n", readyMessage, l.ID()); err != nil {
		// Nobody heard: the user who asked for the lab is gone, but it is
		// up and listed; it stays until `nslab down` like any other.
		fmt.Fprintf(os.Stderr, "keeper: could not report to nslab up: %v\n", err)
	}
	status.Close()
	why := waitLab(ctx, l)
	fmt.Fprintf(os.Stderr, "keeper: %s; taking lab %s down\n", why, l.ID())
	if err := down(l); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "keeper: lab %s is down\n", l.ID())
	return nil
}

// logTo makes the log file the process's stdout and stderr, starting it
// with what was written before it existed.
func logTo(path string, early []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(early); err != nil {
		return err
	}
	for _, fd := range []int{1, 2} {
		if err := unix.Dup3(int(f.Fd()), fd, 0); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}
