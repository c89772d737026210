package hostd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/oci"
	"github.com/nslab/nslab/hostd/proc"
	"github.com/nslab/nslab/hostd/rootfs"
	"github.com/nslab/nslab/hostd/rootfs/launch"
	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netns"
)

// Exec is one `docker exec`. Fields after cfg are guarded by
// Daemon.mu.
type Exec struct {
	ID  string
	c   *Container
	cfg types.ExecConfig

	begun    bool
	running  bool
	exitCode *int
	pid      int
	pty      *os.File
	started  chan struct{}
}

// CreateExec registers an exec on a running container.
func (d *Daemon) CreateExec(ref string, cfg types.ExecConfig) (string, error) {
	if len(cfg.Cmd) == 0 {
		return "", errdefs.BadRequest("No exec command specified")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.lookup(ref)
	if err != nil {
		return "", err
	}
	if c.state != StateRunning {
		return "", errNotRunning(c.ID)
	}
	e := &Exec{ID: netimpl.NewID(), c: c, cfg: cfg, started: make(chan struct{})}
	d.execs[e.ID] = e
	c.execIDs = append(c.execIDs, e.ID)
	d.execEvent(e, "exec_create: "+e.commandLine(), nil)
	return e.ID, nil
}

// commandLine is an exec's command as dockerd's exec events name it: the
// entrypoint, a space, the arguments joined by spaces ("exec_create:
// true " for `docker exec c true`).
func (e *Exec) commandLine() string {
	return e.cfg.Cmd[0] + " " + strings.Join(e.cfg.Cmd[1:], " ")
}

// execEvent logs an event of an exec's container with the exec's id.
// Callers hold d.mu.
func (d *Daemon) execEvent(e *Exec, action string, attrs map[string]string) {
	a := map[string]string{"execID": e.ID}
	maps.Copy(a, attrs)
	d.containerEvent(e.c, action, a)
}

// ExecByID finds an exec. Callers hold d.mu.
func (d *Daemon) ExecByID(id string) (*Exec, error) {
	e, ok := d.execs[id]
	if !ok {
		return nil, errdefs.NotFound("No such exec instance: %s", id)
	}
	return e, nil
}

// BeginExec checks that an exec may start and marks it begun; the API
// layer calls it before it hijacks the connection, so that refusals are
// still proper JSON errors.
func (d *Daemon) BeginExec(id string) (*Exec, *run, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, err := d.ExecByID(id)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case e.exitCode != nil:
		return nil, nil, errdefs.Conflict("Error: Exec command %s has already run", e.ID)
	case e.begun:
		return nil, nil, errdefs.Conflict("Error: Exec command %s is already running", e.ID)
	case e.c.state != StateRunning || e.c.run == nil:
		return nil, nil, errNotRunning(e.c.ID)
	}
	e.begun = true
	d.execEvent(e, "exec_start: "+e.commandLine(), nil)
	return e, e.c.run, nil
}

// ExecIO is where an exec's streams go: a hijacked connection, or nowhere
// for a detached exec.
type ExecIO struct {
	Conn net.Conn
	In   *bufio.Reader
	Out  *proc.MuxWriter
}

// RunExec runs an exec in the container and copies its streams until it
// exits. The exit code is recorded before the stream closes, because the
// client asks for it as soon as the stream ends.
func (d *Daemon) RunExec(e *Exec, r *run, size *[2]uint, io_ *ExecIO) {
	attached := io_ != nil
	in := attached && e.cfg.AttachStdin
	p, err := d.execProcess(e)
	if err != nil {
		d.execFailed(e, io_, err)
		return
	}
	st := &proc.Stdio{}
	if !e.cfg.Tty {
		if st, err = proc.NewPipes(in, attached && e.cfg.AttachStdout, attached && e.cfg.AttachStderr); err != nil {
			d.execFailed(e, io_, err)
			return
		}
	}
	child, err := d.execIn(r, p, st, e.cfg.Tty, in, size)
	st.CloseChild()
	if err != nil {
		st.Close()
		d.execFailed(e, io_, err)
		return
	}
	d.mu.Lock()
	e.running = true
	e.pid = child.Pid
	e.pty = st.PTY
	d.mu.Unlock()
	close(e.started)
	var gone atomic.Bool
	gone.Store(!attached)
	st.Pump(func(stream byte, b []byte) {
		// A client that went away stops getting output; the process
		// is still read from, so that it never blocks on a full pipe.
		if !gone.Load() && io_.Out.Write(stream, b) != nil {
			gone.Store(true)
		}
	})
	if st.Stdin != nil {
		go func() {
			// The client half-closes its side when its input ends; the
			// process then reads EOF (a tty has no EOF to pass on).
			io.Copy(st.Stdin, io_.In)
			if !e.cfg.Tty {
				st.Stdin.Close()
			}
		}()
	}
	status := <-child.Exit
	child.Release()
	st.Drain(2 * time.Second)
	code := proc.ExitCode(status)
	d.mu.Lock()
	e.running = false
	e.exitCode = &code
	d.execEvent(e, "exec_die", map[string]string{"exitCode": strconv.Itoa(code)})
	d.mu.Unlock()
	if io_ != nil {
		io_.Conn.Close()
	}
}

// execProcess is the process an exec runs: its command, the container's
// environment with the exec's, its working directory and user (the
// container's unless given) and capabilities (all with --privileged).
func (d *Daemon) execProcess(e *Exec) (rootfs.Process, error) {
	c := e.c
	p := rootfs.Process{
		Args: e.cfg.Cmd, Env: d.processEnv(c, e.cfg.Tty, e.cfg.Env...),
		Cwd: e.cfg.WorkingDir, User: e.cfg.User, GroupAdd: c.HostConfig.GroupAdd,
	}
	if p.Cwd == "" {
		p.Cwd = c.workDir()
	}
	if p.User == "" {
		p.User = c.Config.User
	}
	var err error
	p.Caps, err = oci.Capabilities(&c.HostConfig)
	if e.cfg.Privileged {
		p.Caps = rootfs.AllCapabilities
	}
	return p, err
}

// execIn starts p inside the container of r from a throwaway thread that
// joins the container's mount, PID (for its children), network, UTS and
// IPC namespaces through its command's pidfd (PID 1). Joining the mount namespace
// makes the container's root the thread's root, so the user, the command
// and a terminal are all found inside it, as in the container; the thread
// then narrows its bounding set and forks the command as the user. No
// program of the machine runs in the container.
func (d *Daemon) execIn(r *run, p rootfs.Process, st *proc.Stdio, tty, in bool, size *[2]uint) (*proc.Child, error) {
	var child *proc.Child
	err := netns.OnThread(func() error {
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return fmt.Errorf("unshare fs: %w", err)
		}
		if err := r.proc.Setns(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC); err != nil {
			return fmt.Errorf("join the container: %w", err)
		}
		if tty {
			master, slave, err := pty.Open()
			if err != nil {
				return fmt.Errorf("terminal: %w", err)
			}
			st.ChildEnds = [3]*os.File{slave}
			st.UseTerminal(master, in, size)
		}
		res, rerr := p.Resolve()
		if rerr != nil {
			return rerr
		}
		if err := rootfs.NarrowBoundingSet(p.Caps); err != nil {
			return fmt.Errorf("capabilities: %w", err)
		}
		cmd := launch.Command(p, res, st.ChildEnds[0], st.ChildEnds[1], st.ChildEnds[2], tty)
		var err error
		child, err = d.reaper.Start(cmd, cmd.Start)
		return err
	})
	return child, err
}

// execFailed reports an exec that could not start, as dockerd 20.10 does:
// the message goes into the stream and the exit code is 126.
func (d *Daemon) execFailed(e *Exec, io_ *ExecIO, err error) {
	code := 126
	err = runcError("exec", err)
	_, msg := errdefs.Status(err)
	var se *startError
	if errors.As(err, &se) {
		msg = se.msg
	}
	d.mu.Lock()
	e.exitCode = &code
	d.mu.Unlock()
	close(e.started)
	if io_ != nil {
		io_.Out.Write(proc.StreamStdout, []byte(msg+"\r\n"))
		io_.Conn.Close()
	}
}

// ResizeExec sets an exec's terminal size, waiting briefly for it to start
// as Docker does (the CLI resizes right after starting).
func (d *Daemon) ResizeExec(id string, h, w uint16) error {
	d.mu.Lock()
	e, err := d.ExecByID(id)
	d.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-e.started:
	case <-time.After(10 * time.Second):
		return errors.New("timeout waiting for exec session ready")
	}
	d.mu.Lock()
	m := e.pty
	running := e.running
	d.mu.Unlock()
	if m == nil || !running {
		return nil
	}
	return pty.Setsize(m, &pty.Winsize{Rows: h, Cols: w})
}

// InspectExec is GET /exec/{id}/json: an exec as Docker shows it.
func (d *Daemon) InspectExec(id string) (types.ExecInspect, error) {
	d.mu.Lock()
	e, err := d.ExecByID(id)
	if err != nil {
		d.mu.Unlock()
		return types.ExecInspect{}, err
	}
	cmd := e.cfg.Cmd
	out := types.ExecInspect{
		ID:      e.ID,
		Running: e.running,
		ProcessConfig: types.ProcessConfig{
			Privileged: e.cfg.Privileged,
			User:       e.cfg.User,
			Tty:        e.cfg.Tty,
			Entrypoint: cmd[0],
			Arguments:  append([]string{}, cmd[1:]...),
		},
		OpenStdin:   e.cfg.AttachStdin,
		OpenStderr:  e.cfg.AttachStderr,
		OpenStdout:  e.cfg.AttachStdout,
		ContainerID: e.c.ID,
		DetachKeys:  e.cfg.DetachKeys,
		Pid:         e.pid,
	}
	if e.exitCode != nil {
		code := *e.exitCode
		out.ExitCode = &code
	}
	d.mu.Unlock()
	return out, nil
}

// Config is what the exec was created with.
func (e *Exec) Config() types.ExecConfig { return e.cfg }
