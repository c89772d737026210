package hostd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostd/proc"
	"github.com/nslab/nslab/hostd/rootfs"
	"github.com/nslab/nslab/hostd/rootfs/launch"
	"github.com/nslab/nslab/netns"
)

// spawn starts the container's command as runc does, PID 1 of a new PID
// namespace, in new mount, IPC and UTS namespaces (the host's UTS
// namespace in host mode) and the sandbox's network namespace, in its own
// root filesystem, but with no init process of its own: namespaces, root
// and bounding set are attributes of a thread, so a throwaway thread of
// hostd's takes them all, builds the root filesystem while the
// container's networks are joined, and once they are (Docker starts the
// command with its network ready) forks the command, which inherits them.
// The thread then ends with its goroutine (netns.OnThread). spawn returns
// when the command runs, or with why it could not.
func (d *Daemon) spawn(c *Container, ns netSetup, spec *rootfs.Spec) (*run, error) {
	var io *proc.Stdio
	var err error
	if spec.Tty {
		io = &proc.Stdio{}
	} else if io, err = proc.NewPipes(c.Config.OpenStdin, true, true); err != nil {
		return nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	// The sandbox's pin is a mount of the machine's table: opened here,
	// before the thread leaves it.
	net, err := os.Open(ns.sandbox.Key)
	if err != nil {
		io.Close()
		return nil, fmt.Errorf("container %s: open netns %s: %w", c.Name, ns.sandbox.Key, err)
	}
	defer net.Close()
	var child *proc.Child
	err = netns.OnThread(func() error {
		b, err := d.enterContainer(net, spec)
		if err != nil {
			return err
		}
		if spec.Tty {
			io.ChildEnds[0] = os.NewFile(uintptr(b.Slave), "pty slave")
			sz := c.HostConfig.ConsoleSize
			io.UseTerminal(os.NewFile(uintptr(b.Master), "pty master"), c.Config.OpenStdin, &sz)
		}
		if err := ns.joined.wait(); err != nil {
			return err
		}
		child, err = d.startCommand(spec.Process, io, spec.Tty)
		return err
	})
	io.CloseChild()
	if err != nil {
		io.Close()
		return nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	r := &run{proc: child, pid: child.Pid, io: io, done: make(chan struct{})}
	// The PID namespace's inode finds the container's processes (docker
	// top); the running command keeps it from being reused.
	r.pidNS, _ = proc.NSInode(child.Pid, "pid")
	c.streams.BeginRun(io.Stdin)
	io.Pump(c.streams.Write)
	return r, nil
}

// enterContainer puts the calling thread, a throwaway locked one, into
// the container's namespaces: a copy of the mount template, new IPC and
// PID (for its children) namespaces, a new UTS namespace unless the
// container shares the host's, and the sandbox's network namespace; then
// it builds the root filesystem there and pivots into it.
func (d *Daemon) enterContainer(net *os.File, spec *rootfs.Spec) (rootfs.Built, error) {
	// os forks a probe the first time it starts a process (does the
	// kernel give pidfds?): that fork must not be the first process of the
	// container's PID namespace, which ends with its first process.
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		p.Release()
	}
	if err := d.mounts.Enter(); err != nil {
		return rootfs.Built{}, err
	}
	flags := unix.CLONE_NEWIPC | unix.CLONE_NEWPID
	if spec.Hostname != "" {
		flags |= unix.CLONE_NEWUTS
	}
	if err := unix.Unshare(flags); err != nil {
		return rootfs.Built{}, fmt.Errorf("unshare the container's namespaces: %w", err)
	}
	if err := unix.Setns(int(net.Fd()), unix.CLONE_NEWNET); err != nil {
		return rootfs.Built{}, fmt.Errorf("join the sandbox's network namespace: %w", err)
	}
	pidns, err := childPIDNamespace()
	if err != nil {
		return rootfs.Built{}, err
	}
	defer unix.Close(pidns)
	b, e := spec.Build(pidns)
	if e != nil {
		return b, e
	}
	return b, nil
}

// pidfdGetPIDForChildrenNamespace is the pidfd ioctl that opens a task's
// PID namespace for its children (linux/pidfd.h, Linux 6.11), and
// pidfdThread pidfd_open's flag for a thread's pidfd (6.9).
const (
	pidfdGetPIDForChildrenNamespace = 0xFF06
	pidfdThread                     = unix.O_EXCL
)

// childPIDNamespace opens the PID namespace the calling thread's children
// are born in. /proc/thread-self/ns/pid_for_children cannot: the kernel
// refuses it until the namespace has its first process, and the container's
// /proc is mounted before the command is.
func childPIDNamespace() (int, error) {
	pfd, err := unix.PidfdOpen(unix.Gettid(), pidfdThread)
	if err != nil {
		return -1, fmt.Errorf("pidfd of the thread: %w", err)
	}
	defer unix.Close(pfd)
	fd, err := unix.IoctlRetInt(pfd, pidfdGetPIDForChildrenNamespace)
	if err != nil {
		return -1, fmt.Errorf("the container's PID namespace: %w", err)
	}
	return fd, nil
}

// startCommand forks the container's process from the calling thread,
// inside the container: the thread's root, namespaces and bounding set are
// the process's, the user's credentials are set in the child.
func (d *Daemon) startCommand(p rootfs.Process, io *proc.Stdio, tty bool) (*proc.Child, error) {
	res, e := p.Prepare()
	if e != nil {
		return nil, e
	}
	child, err := d.forkCommand(p, res, io, tty)
	var errno syscall.Errno
	if err != nil && errors.As(err, &errno) {
		return nil, rootfs.ExecFailed(res.Path, errno)
	}
	return child, err
}

// forkCommand forks p, resolved as res, from the calling thread, which
// sits inside the container with its bounding set narrowed: the child
// becomes the user, enters p's working directory in its own session and
// executes the command with the process's stdio (the terminal's slave,
// its controlling terminal, with tty).
func (d *Daemon) forkCommand(p rootfs.Process, res rootfs.Resolved, st *proc.Stdio, tty bool) (*proc.Child, error) {
	cmd := &exec.Cmd{Path: res.Path, Args: p.Args, Env: res.Env, Dir: p.Cwd}
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true, Credential: &syscall.Credential{Uid: res.User.UID, Gid: res.User.GID, Groups: res.User.Groups}}
	if tty {
		launch.SetStdio(cmd, st.ChildEnds[0], st.ChildEnds[0], st.ChildEnds[0])
		cmd.SysProcAttr.Setctty = true
	} else {
		launch.SetStdio(cmd, st.ChildEnds[0], st.ChildEnds[1], st.ChildEnds[2])
	}
	return d.reaper.Start(cmd, cmd.Start)
}

// runcError is Docker's report of a container process that could not
// start (op "create": the container's command; "exec": an exec), from
// what the thread that started it said: runc's words wrapped as containerd
// and dockerd 20.10 pass them on, the HTTP status and the exit code Docker
// records (127: not found, 126: not executable; an exec that failed is
// always 126). A user the image does not know is dockerd's own error, not
// runc's. Anything but a *rootfs.Error is returned as it is.
func runcError(op string, err error) error {
	var re *rootfs.Error
	if !errors.As(err, &re) {
		return err
	}
	e := &startError{status: 500, code: 128, msg: re.Msg}
	if re.Kind != rootfs.ErrUser {
		msg := re.Msg
		if re.Kind == rootfs.ErrMountType {
			msg += ": Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type"
		}
		prefix := "failed to create shim task: OCI runtime create failed: runc create failed: "
		if op == "exec" {
			prefix = "OCI runtime exec failed: exec failed: "
		}
		e.msg = prefix + "unable to start container process: " + msg + ": unknown"
	}
	if c := re.ExitCode(); c != 0 {
		e.status, e.code = 400, c
	}
	if op == "exec" {
		e.code = 126
	}
	return e
}

// startError is a process that could not start, as Docker answers it.
type startError struct {
	status int
	code   int
	msg    string
}

func (e *startError) Error() string { return e.msg }

// monitor waits for the container's command to exit, then does what the
// kernel and Docker do: the kernel ends every other process of the PID
// namespace with its init; hostd delivers the last output, releases the
// network, records the exit and wakes waiters.
func (d *Daemon) monitor(c *Container, r *run) {
	st := <-r.proc.Exit
	code := proc.ExitCode(st)
	r.io.Drain(3 * time.Second)
	c.streams.EndRun()
	var networks []string
	for _, ep := range d.ctl.Endpoints(c.ID) {
		networks = append(networks, ep.Network)
	}
	d.stopNetwork(c)
	d.mu.Lock()
	c.state = StateExited
	c.exitCode = code
	c.finishedAt = time.Now().UTC()
	d.exitEvents(c, code, networks)
	c.run = nil
	// c.sandbox stays: Docker's inspect of a stopped container still
	// names the sandbox it last had.
	clearEndpoints(c)
	waiters := c.exitWaiters
	c.exitWaiters = nil
	autoRemove := c.HostConfig.AutoRemove && !c.removed && !d.closing
	d.mu.Unlock()
	r.proc.Release()
	for _, w := range waiters {
		w <- code
	}
	close(r.done)
	if autoRemove {
		if err := d.Remove(c, false, true); err != nil {
			d.log.Printf("container %s: auto-remove: %v", d.NameOf(c), err)
		}
	}
}
