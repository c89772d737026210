// Package proc is the processes of hostd's containers and their I/O: the
// reaper of every child hostd starts (pidfds, wait4), a process's standard
// streams as pipes or a terminal (Stdio), a container's streams across its
// runs with its output log and attached clients (Streams), the multiplexed
// stream format moby's stdcopy reads, signal names, and the scan of /proc
// for a PID namespace's processes.
package proc

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Reaper waits for every child of hostd: containers' inits, execs, tools.
// One SIGCHLD handler reaps them all with wait4(-1) — one goroutine
// instead of a thread blocked in wait per running container — which would
// steal the status os/exec's Cmd.Wait expects; so hostd never calls
// Cmd.Wait and every child is started through start below.
//
// hostd is no child subreaper: each container is a PID namespace whose
// init is the container's command, so what a command or an exec leaves
// behind is re-parented to that init and ends with it; nothing of a
// container becomes hostd's.
//
// Libraries that run tools with os/exec themselves (go-iptables, under the
// firewall) need their children's statuses too: around such calls hostd
// holds the reaper with beginForeign/endForeign, and meanwhile it reaps only
// the children it registered, each by its pid, leaving every other zombie
// to whoever waits for it.
type Reaper struct {
	mu           sync.Mutex
	waiting      map[int]chan unix.WaitStatus
	foreignCalls int
}

func NewReaper() *Reaper {
	r := &Reaper{waiting: map[int]chan unix.WaitStatus{}}
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, unix.SIGCHLD)
	go func() {
		for range sigc {
			r.reap()
		}
	}()
	return r
}

// Child is a started process: its pid, a pidfd to signal it without ever
// hitting a recycled pid, and the channel its exit status arrives on once.
type Child struct {
	Pid  int
	Exit <-chan unix.WaitStatus

	mu    sync.Mutex
	pidfd int
}

// Signal sends sig to the process (an exited process is not an error).
func (c *Child) Signal(sig unix.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pidfd < 0 {
		return nil
	}
	err := unix.PidfdSendSignal(c.pidfd, sig, nil, 0)
	if err == unix.ESRCH {
		return nil
	}
	return err
}

// Setns joins the calling thread to the process's namespaces (a mask of
// CLONE_NEW* flags) through its pidfd, atomically and without ever meeting
// a recycled pid.
func (c *Child) Setns(flags int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pidfd < 0 {
		return unix.ESRCH
	}
	return unix.Setns(c.pidfd, flags)
}

// Release closes the pidfd; signals after it are no-ops.
func (c *Child) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pidfd >= 0 {
		unix.Close(c.pidfd)
		c.pidfd = -1
	}
}

// Start runs startFn (cmd.Start, or netns.StartIn around it) with the reaper
// held, so that a child which exits at once is still registered before the
// Reaper looks, and its pidfd opened before it can be reaped.
func (r *Reaper) Start(cmd *exec.Cmd, startFn func() error) (*Child, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := startFn(); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid
	// hostd never uses os.Process after this: wait4 collects the status.
	cmd.Process.Release()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		fd = -1
	}
	ch := make(chan unix.WaitStatus, 1)
	r.waiting[pid] = ch
	if fd < 0 {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	return &Child{Pid: pid, pidfd: fd, Exit: ch}, nil
}

// Output runs cmd and returns its standard output. The output is read
// from a pipe here: Cmd's own copying goroutine is only waited for by
// Cmd.Wait, which hostd never calls.
func (r *Reaper) Output(cmd *exec.Cmd) ([]byte, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	cmd.Stdout = pw
	ch, err := r.Start(cmd, cmd.Start)
	pw.Close()
	if err != nil {
		return nil, err
	}
	defer ch.Release()
	out, rerr := io.ReadAll(pr)
	if st := <-ch.Exit; st.ExitStatus() != 0 || st.Signaled() {
		return out, fmt.Errorf("%s: exit status %d", cmd.Path, ExitCode(st))
	}
	return out, rerr
}

// reap collects every child that has exited: those registered by pid, and,
// unless a foreign exec is under way, any other.
func (r *Reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.foreignCalls > 0 {
		for pid, ch := range r.waiting {
			var st unix.WaitStatus
			got, err := unix.Wait4(pid, &st, unix.WNOHANG, nil)
			for err == unix.EINTR {
				got, err = unix.Wait4(pid, &st, unix.WNOHANG, nil)
			}
			if err == nil && got == pid {
				delete(r.waiting, pid)
				ch <- st
			}
		}
		return
	}
	for {
		var st unix.WaitStatus
		pid, err := unix.Wait4(-1, &st, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		if ch, ok := r.waiting[pid]; ok {
			delete(r.waiting, pid)
			ch <- st
		}
	}
}

// BeginForeign marks the start of a call that runs and waits for child
// processes of its own (os/exec): until endForeign the reaper leaves
// unregistered zombies alone. Taking the lock waits out a reap pass that
// might otherwise catch such a child.
func (r *Reaper) BeginForeign() {
	r.mu.Lock()
	r.foreignCalls++
	r.mu.Unlock()
}

// EndForeign ends such a call and collects the orphans that waited.
func (r *Reaper) EndForeign() {
	r.mu.Lock()
	r.foreignCalls--
	r.mu.Unlock()
	r.reap()
}

// Drain reaps until hostd has no child left (or the timeout passes), so
// that nothing hostd started becomes a zombie of an init that never reaps.
func (r *Reaper) Drain(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		r.reap()
		var st unix.WaitStatus
		r.mu.Lock()
		pid, err := unix.Wait4(-1, &st, unix.WNOHANG, nil)
		if pid > 0 {
			if ch, ok := r.waiting[pid]; ok {
				delete(r.waiting, pid)
				ch <- st
			}
		}
		r.mu.Unlock()
		if err == unix.ECHILD || time.Now().After(deadline) {
			return
		}
		if pid <= 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// ExitCode is the status Docker reports: the exit code, or 128+signal.
func ExitCode(st unix.WaitStatus) int {
	if st.Signaled() {
		return 128 + int(st.Signal())
	}
	return st.ExitStatus()
}
