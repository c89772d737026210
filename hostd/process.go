package hostd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/netns"
)

// spawn starts the init shim in the sandbox and waits until it has exec'd
// the container's command (or reported why it could not).
func (d *Daemon) spawn(c *Container, ns netSetup, path string, argv, env []string) (*run, error) {
	args := []string{initName, "--path", path, "--hosts", ns.hosts, "--resolv", ns.resolv, "--hostname-file", ns.hostFile}
	cloneflags := uintptr(unix.CLONE_NEWNS)
	if !netMode(c.HostConfig.NetworkMode).isHost() {
		// Docker's host mode shares the host's UTS namespace; every other
		// mode gets its own, with the container's hostname.
		cloneflags |= unix.CLONE_NEWUTS
		args = append(args, "--hostname", ns.hostname)
	}
	args = append(append(args, "--"), argv...)
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Env = env
	cmd.Dir = c.workDir()
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true, Cloneflags: cloneflags}

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
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	closeAfterStart = append(closeAfterStart, syncW)
	cmd.ExtraFiles = []*os.File{syncW}
	proc, err := d.reaper.start(cmd, func() error { return netns.StartIn(ns.sandbox.Key, cmd) })
	for _, f := range closeAfterStart {
		f.Close()
	}
	closeAfterStart = nil
	if err != nil {
		syncR.Close()
		return fail(fmt.Errorf("container %s: start init: %w", c.Name, err))
	}
	msg, _ := io.ReadAll(syncR)
	syncR.Close()
	if len(msg) > 0 {
		<-proc.exit
		proc.release()
		return fail(errors.New(string(msg)))
	}
	r.proc = proc
	r.pid = proc.pid
	if ino, err := nsInode(r.pid, "mnt"); err == nil {
		r.mntNS = ino
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
	d.mu.Lock()
	sb := c.sandbox
	d.mu.Unlock()
	if err := d.eng.DeleteSandbox(sb.ID); err != nil {
		d.log.Printf("container %s: release network: %v", c.Name, err)
	}
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
