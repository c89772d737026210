package hostd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostd/proc"
	"github.com/nslab/nslab/hostd/rootfs"
	"github.com/nslab/nslab/hostd/rootfs/launch"
	"github.com/nslab/nslab/netns/kernel"
)

// spawn starts the container's command as runc does, PID 1 of a new PID
// namespace, in new mount, IPC and UTS namespaces (the host's UTS
// namespace in host mode) and the sandbox's network namespace, in its own
// root filesystem, with no init process before it where the kernel allows
// (package launch: an init process of hostd's binary before Linux 6.15):
// the root filesystem is built while the container's networks are joined,
// and the command starts once they are (Docker starts it with its network
// ready). spawn returns when the command runs, or with why it could not.
func (d *Daemon) spawn(c *Container, ns netSetup, spec *rootfs.Spec) (*run, error) {
	var io *proc.Stdio
	var err error
	if spec.Tty {
		io = &proc.Stdio{}
	} else if io, err = proc.NewPipes(c.Config.OpenStdin, true, true); err != nil {
		return nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	// The sandbox's pin is a mount of the machine's table: opened here,
	// before the starting thread leaves it.
	net, err := os.Open(ns.sandbox.Key)
	if err != nil {
		io.Close()
		return nil, fmt.Errorf("container %s: open netns %s: %w", c.Name, ns.sandbox.Key, err)
	}
	defer net.Close()
	var child *proc.Child
	_, err = launch.Start(launch.Container{NetNS: net, Stdin: io.ChildEnds[0], Stdout: io.ChildEnds[1], Stderr: io.ChildEnds[2], Spec: spec}, launch.Options{
		EnterMounts: d.mounts.Enter,
		Terminal: func(master *os.File) {
			sz := c.HostConfig.ConsoleSize
			io.UseTerminal(master, c.Config.OpenStdin, &sz)
		},
		Ready: ns.joined.wait,
		Way:   d.start,
		Start: func(cmd *exec.Cmd) error {
			var err error
			child, err = d.reaper.Start(cmd, cmd.Start)
			return err
		},
	})
	io.CloseChild()
	if err != nil {
		if child != nil {
			// An init that started and failed (launch.FromInit).
			child.Signal(unix.SIGKILL)
			<-child.Exit
			child.Release()
		}
		io.Close()
		return nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	r := &run{proc: child, pid: child.Pid, io: io, done: make(chan struct{})}
	// The PID namespace's inode finds the container's processes (docker
	// top); the running command keeps it from being reused.
	r.pidNS, _ = kernel.NSInode(child.Pid, "pid")
	c.streams.BeginRun(io.Stdin)
	io.Pump(c.streams.Write)
	return r, nil
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
