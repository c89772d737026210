package hostd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl"
)

// execInstance is one `docker exec`. Fields after cfg are guarded by
// Daemon.mu.
type execInstance struct {
	ID  string
	c   *Container
	cfg execConfig

	begun    bool
	running  bool
	exitCode *int
	pid      int
	pty      *os.File
	started  chan struct{}
}

// createExec registers an exec on a running container.
func (d *Daemon) createExec(ref string, cfg execConfig) (string, error) {
	if len(cfg.Cmd) == 0 {
		return "", badRequest("No exec command specified")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.lookup(ref)
	if err != nil {
		return "", err
	}
	if c.state != stateRunning {
		return "", errNotRunning(c.ID)
	}
	e := &execInstance{ID: netimpl.NewID(), c: c, cfg: cfg, started: make(chan struct{})}
	d.execs[e.ID] = e
	c.execIDs = append(c.execIDs, e.ID)
	return e.ID, nil
}

// execByID finds an exec. Callers hold d.mu.
func (d *Daemon) execByID(id string) (*execInstance, error) {
	e, ok := d.execs[id]
	if !ok {
		return nil, notFound("No such exec instance: %s", id)
	}
	return e, nil
}

// beginExec checks that an exec may start and marks it begun; the API
// layer calls it before it hijacks the connection, so that refusals are
// still proper JSON errors.
func (d *Daemon) beginExec(id string) (*execInstance, int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, err := d.execByID(id)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case e.exitCode != nil:
		return nil, 0, conflict("Error: Exec command %s has already run", e.ID)
	case e.begun:
		return nil, 0, conflict("Error: Exec command %s is already running", e.ID)
	case e.c.state != stateRunning || e.c.run == nil:
		return nil, 0, errNotRunning(e.c.ID)
	}
	e.begun = true
	return e, e.c.run.pid, nil
}

// execIO is where an exec's streams go: a hijacked connection, or nowhere
// for a detached exec.
type execIO struct {
	conn net.Conn
	in   *bufio.Reader
	out  *muxWriter
}

// runExec runs an exec inside the container's namespaces with nsenter (a
// multithreaded Go process cannot setns into a mount namespace) and copies
// its streams until it exits. The exit code is recorded before the stream
// closes, because the client asks for it as soon as the stream ends.
func (d *Daemon) runExec(e *execInstance, pid int, size *[2]uint, io_ *execIO) {
	finish := func(code int) {
		d.mu.Lock()
		e.running = false
		e.exitCode = &code
		d.mu.Unlock()
	}
	c := e.c
	env := d.processEnv(c, e.cfg.Tty, e.cfg.Env...)
	wd := e.cfg.WorkingDir
	if wd == "" {
		wd = c.workDir()
	}
	path, argv, err := d.resolveCommand(e.cfg.Cmd, env, wd)
	if err != nil {
		d.execFailed(e, io_, err, 127)
		return
	}
	if !e.cfg.Privileged && !c.HostConfig.Privileged {
		path, argv = dropCapabilities(path, argv)
	}
	args := []string{"--target", fmt.Sprint(pid), "--net", "--uts", "--mount", "--wd=" + wd, "--", path}
	if path == busyboxPath && filepath.Base(argv[0]) != "busybox" {
		// nsenter passes the program path as argv[0]; called as busybox,
		// busybox takes the applet from its first argument instead.
		args = append(args, argv...)
	} else {
		args = append(args, argv[1:]...)
	}
	cmd := exec.Command(d.nsenter, args...)
	cmd.Env = env
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true}

	attached := io_ != nil
	var closeAfterStart, outputs []*os.File
	var outStreams []byte
	var stdin io.WriteCloser
	var master *os.File
	cleanup := func() {
		for _, f := range closeAfterStart {
			f.Close()
		}
		closeAfterStart = nil
	}
	if e.cfg.Tty {
		m, s, err := pty.Open()
		if err != nil {
			d.execFailed(e, io_, err, 126)
			return
		}
		if size != nil && size[0] > 0 && size[1] > 0 {
			pty.Setsize(m, &pty.Winsize{Rows: uint16(size[0]), Cols: uint16(size[1])})
		}
		master = m
		outputs = []*os.File{m}
		outStreams = []byte{streamStdout}
		closeAfterStart = append(closeAfterStart, s)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
		cmd.SysProcAttr.Setctty = true
		if attached && e.cfg.AttachStdin {
			stdin = m
		}
	} else {
		if attached && e.cfg.AttachStdout {
			pr, pw, err := os.Pipe()
			if err != nil {
				d.execFailed(e, io_, err, 126)
				return
			}
			outputs = append(outputs, pr)
			outStreams = append(outStreams, streamStdout)
			closeAfterStart = append(closeAfterStart, pw)
			cmd.Stdout = pw
		}
		if attached && e.cfg.AttachStderr {
			pr, pw, err := os.Pipe()
			if err != nil {
				cleanup()
				d.execFailed(e, io_, err, 126)
				return
			}
			outputs = append(outputs, pr)
			outStreams = append(outStreams, streamStderr)
			closeAfterStart = append(closeAfterStart, pw)
			cmd.Stderr = pw
		}
		if attached && e.cfg.AttachStdin {
			pr, pw, err := os.Pipe()
			if err != nil {
				cleanup()
				d.execFailed(e, io_, err, 126)
				return
			}
			closeAfterStart = append(closeAfterStart, pr)
			cmd.Stdin = pr
			stdin = pw
		}
	}
	proc, err := d.reaper.start(cmd, cmd.Start)
	cleanup()
	if err != nil {
		for _, f := range outputs {
			f.Close()
		}
		if stdin != nil && stdin != master {
			stdin.Close()
		}
		d.execFailed(e, io_, err, 126)
		return
	}
	d.mu.Lock()
	e.running = true
	e.pid = proc.pid
	e.pty = master
	d.mu.Unlock()
	close(e.started)

	var pumps sync.WaitGroup
	for i, f := range outputs {
		stream := outStreams[i]
		pumps.Add(1)
		go func() {
			defer pumps.Done()
			copyOutput(f, io_, stream)
		}()
	}
	if stdin != nil {
		go func() {
			// The client half-closes its side when its input ends; the
			// process then reads EOF (a tty has no EOF to pass on).
			io.Copy(stdin, io_.in)
			if !e.cfg.Tty {
				stdin.Close()
			}
		}()
	}
	st := <-proc.exit
	proc.release()
	drained := make(chan struct{})
	go func() { pumps.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
		// A background child still holds the output: stop reading.
		for _, f := range outputs {
			f.SetReadDeadline(time.Now())
		}
		<-drained
	}
	for _, f := range outputs {
		f.Close()
	}
	if stdin != nil && stdin != master {
		stdin.Close()
	}
	finish(exitCode(st))
	if io_ != nil {
		io_.conn.Close()
	}
}

// copyOutput copies one output of an exec to its client. When the client
// is gone it keeps reading, so that the process never blocks on a full pipe.
func copyOutput(f *os.File, io_ *execIO, stream byte) {
	buf := make([]byte, 32*1024)
	alive := io_ != nil
	for {
		n, err := f.Read(buf)
		if n > 0 && alive {
			if werr := io_.out.write(stream, buf[:n]); werr != nil {
				alive = false
			}
		}
		if err != nil {
			return
		}
	}
}

// execFailed reports an exec that could not start: the message goes into
// the stream, as dockerd writes it, and the exit code is recorded.
func (d *Daemon) execFailed(e *execInstance, io_ *execIO, err error, code int) {
	var nf *notFoundError
	if errors.As(err, &nf) {
		err = fmt.Errorf("OCI runtime exec failed: exec failed: container_linux.go:380: starting container process caused: exec: %q: executable file not found in $PATH: unknown", nf.name)
		code = 127
	}
	d.mu.Lock()
	e.exitCode = &code
	d.mu.Unlock()
	close(e.started)
	if io_ != nil {
		io_.out.write(streamStdout, []byte(err.Error()+"\r\n"))
		io_.conn.Close()
	}
}

// resizeExec sets an exec's terminal size, waiting briefly for it to start
// as Docker does (the CLI resizes right after starting).
func (d *Daemon) resizeExec(id string, h, w uint16) error {
	d.mu.Lock()
	e, err := d.execByID(id)
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
