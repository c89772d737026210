package hostd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netns"
)

// spawn starts the container's command as its first process, inside the
// sandbox's network namespace, a new mount namespace copied from the
// template (with the container's hosts, resolv.conf and hostname files
// bound over /etc's) and, except in host mode, a new UTS namespace with the
// container's hostname. The namespaces are prepared on a throwaway thread,
// which then forks the command: nothing is re-executed, and Start returns
// once the command runs (or with why it could not).
//
// There is no PID namespace: containers are network-only, and `docker exec`
// must be able to join a running container with nsenter, which needs no PID
// namespace; the container's process set is its mount namespace instead.
func (d *Daemon) spawn(c *Container, ns netSetup, path string, argv, env []string) (*run, error) {
	cmd := &exec.Cmd{Path: path, Args: argv, Env: env, Dir: c.workDir()}
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true}
	hostname := ""
	if !netMode(c.HostConfig.NetworkMode).isHost() {
		// Docker's host mode shares the host's UTS namespace; every other
		// mode gets its own, with the container's hostname.
		hostname = ns.hostname
	}
	r := &run{done: make(chan struct{})}
	var closeAfterStart []*os.File
	var stdin io.WriteCloser
	fail := func(err error) (*run, error) {
		for _, f := range closeAfterStart {
			f.Close()
		}
		for _, f := range r.outputs {
			f.Close()
		}
		if stdin != nil {
			stdin.Close()
		}
		return nil, err
	}
	if c.Config.Tty {
		master, slave, err := pty.Open()
		if err != nil {
			return fail(fmt.Errorf("container %s: pty: %w", c.Name, err))
		}
		if sz := c.HostConfig.ConsoleSize; sz[0] > 0 && sz[1] > 0 {
			pty.Setsize(master, &pty.Winsize{Rows: uint16(sz[0]), Cols: uint16(sz[1])})
		}
		r.pty = master
		r.outputs = []*os.File{master}
		closeAfterStart = append(closeAfterStart, slave)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr.Setctty = true
		cmd.SysProcAttr.Ctty = 0
		if c.Config.OpenStdin {
			stdin = master
		}
	} else {
		for _, w := range []*io.Writer{&cmd.Stdout, &cmd.Stderr} {
			pr, pw, err := os.Pipe()
			if err != nil {
				return fail(err)
			}
			r.outputs = append(r.outputs, pr)
			closeAfterStart = append(closeAfterStart, pw)
			*w = pw
		}
		if c.Config.OpenStdin {
			// hostd holds the write end open, so a shell started with -i
			// waits for input instead of reading EOF.
			pr, pw, err := os.Pipe()
			if err != nil {
				return fail(err)
			}
			closeAfterStart = append(closeAfterStart, pr)
			cmd.Stdin = pr
			stdin = pw
		}
	}
	proc, err := d.launch(cmd, ns, hostname, !c.HostConfig.Privileged)
	for _, f := range closeAfterStart {
		f.Close()
	}
	closeAfterStart = nil
	var oe *ociError
	if errors.As(err, &oe) {
		return fail(err)
	}
	if err != nil {
		return fail(fmt.Errorf("container %s: %w", c.Name, err))
	}
	r.proc = proc
	r.pid = proc.pid
	// Hold the mount namespace open for as long as the run lasts: the
	// container's processes are found by its inode, and the kernel gives a
	// freed namespace's inode number to the next new one, so without the
	// hold the final kill could hit processes of someone else's namespace.
	if f, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", r.pid)); err == nil {
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err == nil {
			r.mntNS, r.mntHold = st.Ino, f
		} else {
			f.Close()
		}
	}
	c.streams.beginRun(stdin)
	if r.pty != nil {
		r.pumps.Add(1)
		go d.pump(c, r.pty, streamStdout, &r.pumps)
	} else {
		r.pumps.Add(2)
		go d.pump(c, r.outputs[0], streamStdout, &r.pumps)
		go d.pump(c, r.outputs[1], streamStderr, &r.pumps)
	}
	return r, nil
}

// launch prepares a throwaway thread's namespaces for the container and
// starts cmd from it (see spawn); with dropCaps the thread's bounding set
// is narrowed to Docker's default capabilities first. A command that
// cannot be executed fails with runc's text, which Docker passes on.
func (d *Daemon) launch(cmd *exec.Cmd, ns netSetup, hostname string, dropCaps bool) (*child, error) {
	var proc *child
	err := netns.OnThread(func() error {
		// The pin is a mount of the machine's table, absent from the
		// template: open it before entering the copy.
		netfd, err := unix.Open(ns.sandbox.Key, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open netns %s: %w", ns.sandbox.Key, err)
		}
		defer unix.Close(netfd)
		if err := d.mounts.enter(); err != nil {
			return err
		}
		if hostname != "" {
			if err := unix.Unshare(unix.CLONE_NEWUTS); err != nil {
				return fmt.Errorf("unshare uts namespace: %w", err)
			}
			if err := unix.Sethostname([]byte(hostname)); err != nil {
				return fmt.Errorf("sethostname %s: %w", hostname, err)
			}
		}
		for _, m := range []struct{ src, dst string }{
			{ns.hosts, "/etc/hosts"}, {ns.resolv, "/etc/resolv.conf"}, {ns.hostFile, "/etc/hostname"},
		} {
			if m.src == "" {
				continue
			}
			// A missing target is left alone: creating it would create it
			// on the machine's own filesystem.
			if _, err := os.Stat(m.dst); err != nil {
				continue
			}
			if err := unix.Mount(m.src, m.dst, "", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("bind %s over %s: %w", m.src, m.dst, err)
			}
		}
		if err := unix.Setns(netfd, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("enter netns %s: %w", ns.sandbox.Key, err)
		}
		// Docker starts the command once its network is ready.
		if err := ns.joined.wait(); err != nil {
			return err
		}
		// Last: the thread needs its capabilities for everything above.
		if dropCaps {
			if err := narrowBoundingSet(); err != nil {
				return err
			}
		}
		proc, err = d.reaper.start(cmd, cmd.Start)
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Op == "fork/exec" {
			return &ociError{name: cmd.Args[0], err: pe.Err}
		}
		return err
	})
	return proc, err
}

// ociError is runc's report of a command it could not execute; Docker
// answers with its text.
type ociError struct {
	name string
	err  error
}

func (e *ociError) Error() string {
	return fmt.Sprintf("OCI runtime create failed: container_linux.go:380: starting container process caused: exec: %q: %v: unknown", e.name, e.err)
}

// pump copies one output of the container into its streams until EOF (a
// pipe) or EIO (a pty whose slave side is closed everywhere).
func (d *Daemon) pump(c *Container, f *os.File, stream byte, wg interface{ Done() }) {
	defer wg.Done()
	buf := make([]byte, 32*1024)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			c.streams.write(stream, buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// monitor waits for the container's command to exit, then does what the
// kernel and Docker do: kills what the command left behind, delivers the
// last output, releases the network, records the exit and wakes waiters.
func (d *Daemon) monitor(c *Container, r *run) {
	st := <-r.proc.exit
	code := exitCode(st)
	if r.mntNS != 0 {
		if left := killMountNS(r.mntNS); len(left) > 0 {
			d.log.Printf("container %s: processes survived SIGKILL: %v", c.Name, left)
		}
	}
	drained := make(chan struct{})
	go func() { r.pumps.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(3 * time.Second):
		// Something outside the container holds the output open; stop
		// reading so the container can be declared stopped.
		for _, f := range r.outputs {
			f.SetReadDeadline(time.Now())
		}
		<-drained
	}
	for _, f := range r.outputs {
		f.Close()
	}
	c.streams.endRun()
	d.stopNetwork(c)
	d.mu.Lock()
	c.state = stateExited
	c.exitCode = code
	c.finishedAt = time.Now().UTC()
	c.run = nil
	c.sandbox = netimpl.Sandbox{}
	clearEndpoints(c)
	waiters := c.exitWaiters
	c.exitWaiters = nil
	autoRemove := c.HostConfig.AutoRemove && !c.removed && !d.closing
	d.mu.Unlock()
	r.proc.release()
	if r.mntHold != nil {
		r.mntHold.Close()
	}
	for _, w := range waiters {
		w <- code
	}
	close(r.done)
	if autoRemove {
		if err := d.remove(c, false); err != nil {
			d.log.Printf("container %s: auto-remove: %v", c.Name, err)
		}
	}
}
