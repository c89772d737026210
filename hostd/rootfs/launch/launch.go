// Package launch starts a container's command with no process before it,
// from a throwaway thread of the caller's: namespaces, root and bounding
// set are attributes of a thread, so the thread enters the container's
// namespaces, builds its root filesystem there (package rootfs), and forks
// the command, which inherits all of it and is PID 1 of the container's
// PID namespace. The thread then ends with its goroutine (netns.OnThread),
// never returned to Go's scheduler in that state.
//
// Mounting the container's /proc from a thread outside its PID namespace
// takes Linux 6.15 (Way, Detected): before, the thread forks an init
// process instead (the caller's binary, re-executed: rootfs's init.go),
// which builds the root filesystem from inside and executes the command.
package launch

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostd/rootfs"
	"github.com/nslab/nslab/netns"
)

// Container is what a container's command starts in and with.
type Container struct {
	// NetNS is the network namespace to join (nil: the thread's own).
	NetNS *os.File
	// Stdin, Stdout and Stderr are the command's (nil: /dev/null); with
	// Spec.Tty the terminal's slave is all three.
	Stdin, Stdout, Stderr *os.File
	Spec                  *rootfs.Spec
}

// Options say how to start.
type Options struct {
	// EnterMounts puts the thread into a private copy of the mount
	// namespace the container's is made from (hostd's template); nil: a
	// copy of the thread's own, made private.
	EnterMounts func() error
	// Terminal receives the master of the container's terminal
	// (Spec.Tty), before Ready.
	Terminal func(master *os.File)
	// Ready is waited for once the root filesystem is built, before the
	// command starts (hostd: until the networks are joined).
	Ready func() error
	// Start starts the command (cmd.Start when nil); hostd passes its
	// reaper's, which registers the child.
	Start func(*exec.Cmd) error
	// Way is how to start (Detect: as Detected says).
	Way Way
}

// start starts cmd with o.Start, or cmd.Start.
func (o Options) start(cmd *exec.Cmd) error {
	if o.Start != nil {
		return o.Start(cmd)
	}
	return cmd.Start()
}

// Start starts the container's command and returns once it runs (its
// execve succeeded), or with why it could not: a *rootfs.Error for what
// runc would report.
func Start(c Container, o Options) (*exec.Cmd, error) {
	way := o.Way
	if way == Detect {
		var err error
		if way, _, err = Detected(); err != nil {
			return nil, err
		}
	}
	s, ok := starters[way]
	if !ok {
		return nil, fmt.Errorf("launch: no way %d to start a container", way)
	}
	var cmd *exec.Cmd
	err := netns.OnThread(func() error {
		if err := enter(c, o); err != nil {
			return err
		}
		var err error
		cmd, err = s.start(c, o)
		return err
	})
	return cmd, err
}

// enter puts the calling thread into the container's namespaces: a copy
// of the mount namespace, new IPC and PID (for its children) namespaces, a
// new UTS namespace unless the container shares the caller's (no
// hostname), and NetNS.
func enter(c Container, o Options) error {
	// os forks a probe the first time it starts a process (does the
	// kernel give pidfds?): that fork must not be the first process of the
	// container's PID namespace, which ends with its first process.
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		p.Release()
	}
	if err := enterMounts(o); err != nil {
		return err
	}
	flags := unix.CLONE_NEWIPC | unix.CLONE_NEWPID
	if c.Spec.Hostname != "" {
		flags |= unix.CLONE_NEWUTS
	}
	if err := unix.Unshare(flags); err != nil {
		return fmt.Errorf("unshare the container's namespaces: %w", err)
	}
	if c.NetNS != nil {
		if err := unix.Setns(int(c.NetNS.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("join the container's network namespace: %w", err)
		}
	}
	return nil
}

// fromThread builds the root filesystem from the thread itself and forks
// the command: no process before it.
type fromThread struct{}

func (fromThread) start(c Container, o Options) (*exec.Cmd, error) {
	pidns, err := childPIDNamespace()
	if err != nil {
		return nil, err
	}
	b, e := c.Spec.Build(pidns)
	unix.Close(pidns)
	if e != nil {
		return nil, e
	}
	if c.Spec.Tty {
		slave := os.NewFile(uintptr(b.Slave), "pty slave")
		defer slave.Close()
		c.Stdin = slave
		giveTerminal(o, os.NewFile(uintptr(b.Master), "pty master"))
	}
	// Who runs what is resolved while the networks are still being
	// joined: it reads only the container's files. Its error comes after
	// theirs, as runc's would after dockerd's network setup.
	res, prepErr := c.Spec.Process.Prepare()
	if o.Ready != nil {
		if err := o.Ready(); err != nil {
			return nil, err
		}
	}
	if prepErr != nil {
		return nil, prepErr
	}
	return fork(c, o, res)
}

// giveTerminal passes the master of the container's terminal to
// o.Terminal, or closes it.
func giveTerminal(o Options, master *os.File) {
	if o.Terminal != nil {
		o.Terminal(master)
	} else {
		master.Close()
	}
}

// enterMounts gives the thread a private mount namespace of its own.
func enterMounts(o Options) error {
	if o.EnterMounts != nil {
		return o.EnterMounts()
	}
	// A mount namespace of its own needs an fs_struct of the thread's
	// own; Go's threads share the process's.
	if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / rprivate: %w", err)
	}
	return nil
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
// refuses it until the namespace has its first process, and the
// container's /proc is mounted before the command starts.
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

// fork forks the command from the thread, readied as res
// (rootfs.Process.Prepare): the child becomes the user, enters the working
// directory in a session of its own and executes the command.
func fork(c Container, o Options, res rootfs.Resolved) (*exec.Cmd, error) {
	cmd := Command(c.Spec.Process, res, c.Stdin, c.Stdout, c.Stderr, c.Spec.Tty)
	err := o.start(cmd)
	var errno syscall.Errno
	if err != nil && errors.As(err, &errno) {
		return nil, rootfs.ExecFailed(res.Path, errno)
	}
	return cmd, err
}

// Command is the command of p, resolved as res, to fork from a thread
// inside the container: in its own session, as the user, in p's working
// directory, with the stdio given (nil: /dev/null). With tty, stdin is a
// terminal's slave: all three streams and the controlling terminal.
func Command(p rootfs.Process, res rootfs.Resolved, stdin, stdout, stderr *os.File, tty bool) *exec.Cmd {
	if tty {
		stdout, stderr = stdin, stdin
	}
	cmd := &exec.Cmd{Path: res.Path, Args: p.Args, Env: res.Env, Dir: p.Cwd}
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true, Setctty: tty,
		Credential: &syscall.Credential{Uid: res.User.UID, Gid: res.User.GID, Groups: res.User.Groups}}
	setStdio(cmd, stdin, stdout, stderr)
	return cmd
}

// setStdio gives cmd the files as its standard streams; a nil file is
// /dev/null (a nil *os.File in the io interfaces would close the stream).
func setStdio(cmd *exec.Cmd, stdin, stdout, stderr *os.File) {
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if stderr != nil {
		cmd.Stderr = stderr
	}
}
