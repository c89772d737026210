// Package launch is hostd's side of a container's init (package rootfs):
// it starts the init, sends it its spec, receives its terminal, tells it
// to go and learns whether the command runs.
package launch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostd/rootfs"
)

// Options say how to start an init.
type Options struct {
	Spec *rootfs.Spec
	// Stdin, Stdout and Stderr are the command's (without a terminal);
	// nil is /dev/null.
	Stdin, Stdout, Stderr *os.File
	// Cloneflags are the namespaces the init gets of its own: CLONE_NEWPID
	// and CLONE_NEWNS at least, CLONE_NEWUTS and CLONE_NEWIPC as the
	// container's modes say.
	Cloneflags uintptr
	// Start starts the command (cmd.Start when nil); hostd passes its
	// reaper's, which registers the child.
	Start func(*exec.Cmd) error
}

// Init is a started container init that waits for its go.
type Init struct {
	Cmd     *exec.Cmd
	spec    *os.File // write end: the go byte
	status  *os.File // read end: EOF, or the init's error
	console *os.File // hostd's end of the console socket
}

// Self is the binary the init runs: hostd's own, whatever its path on
// disk has become since it started.
const Self = "/proc/self/exe"

// Start forks the init from the calling thread, which must sit in the
// mount namespace the container's is copied from and the network
// namespace it uses (the child inherits both), and sends it the spec. The
// init then builds the root filesystem while the caller does something
// else (joins networks); Run lets it execute the command.
func Start(o Options) (*Init, error) {
	specR, specW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		specR.Close()
		specW.Close()
		return nil, err
	}
	// Arguments show in ps until the command replaces them.
	cmd := &exec.Cmd{
		Path: Self, Args: []string{"nslab-init"}, Env: []string{rootfs.InitEnv}, Dir: "/",
		ExtraFiles:  []*os.File{specR, statusW},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true, Cloneflags: o.Cloneflags},
	}
	SetStdio(cmd, o.Stdin, o.Stdout, o.Stderr)
	in := &Init{Cmd: cmd, spec: specW, status: statusR}
	var childEnds = []*os.File{specR, statusW}
	if o.Spec.Tty {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			in.Close()
			closeAll(childEnds)
			return nil, fmt.Errorf("console socket: %w", err)
		}
		in.console = os.NewFile(uintptr(fds[0]), "console")
		theirs := os.NewFile(uintptr(fds[1]), "console")
		cmd.ExtraFiles = append(cmd.ExtraFiles, theirs)
		childEnds = append(childEnds, theirs)
	}
	start := o.Start
	if start == nil {
		start = func(c *exec.Cmd) error { return c.Start() }
	}
	err = start(cmd)
	closeAll(childEnds)
	if err != nil {
		in.Close()
		return nil, err
	}
	b := o.Spec.Marshal()
	msg := binary.LittleEndian.AppendUint32(nil, uint32(len(b)))
	if _, err := in.spec.Write(append(msg, b...)); err != nil {
		// The init died before reading: what it said is the reason.
		if rerr := in.result(); rerr != nil {
			err = rerr
		}
		in.Close()
		return nil, err
	}
	return in, nil
}

// Console receives the terminal master the init allocated (Spec.Tty).
func (in *Init) Console() (*os.File, error) {
	if in.console == nil {
		return nil, errors.New("launch: no terminal was asked for")
	}
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	conn := int(in.console.Fd())
	_, oobn, _, _, err := unix.Recvmsg(conn, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err == nil && oobn == 0 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		if rerr := in.result(); rerr != nil {
			return nil, rerr
		}
		return nil, fmt.Errorf("receive the container's terminal: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive the container's terminal: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("receive the container's terminal: %v", err)
	}
	return os.NewFile(uintptr(fds[0]), "pty master"), nil
}

// Run tells the init to go and waits until the command runs (nil) or the
// init reports why it cannot (a *rootfs.Error).
func (in *Init) Run() error {
	_, werr := in.spec.Write([]byte{rootfs.Go})
	in.spec.Close()
	in.spec = nil
	if err := in.result(); err != nil {
		return err
	}
	if werr != nil {
		return fmt.Errorf("container init: %w", werr)
	}
	return nil
}

// result reads the status pipe to its end: nothing means the command was
// executed; anything else is the init's error.
func (in *Init) result() error {
	b, err := io.ReadAll(in.status)
	in.status.Close()
	in.status = nil
	if err != nil {
		return fmt.Errorf("container init status: %w", err)
	}
	if len(b) == 0 {
		return nil
	}
	return rootfs.DecodeError(b)
}

// Close releases hostd's ends; an init still waiting for its go exits.
func (in *Init) Close() {
	for _, f := range []*os.File{in.spec, in.status, in.console} {
		if f != nil {
			f.Close()
		}
	}
	in.spec, in.status, in.console = nil, nil, nil
}

// SetStdio gives cmd the files as its standard streams; a nil file is
// /dev/null (a nil *os.File in the io interfaces would close the stream).
func SetStdio(cmd *exec.Cmd, in, out, errOut *os.File) {
	if in != nil {
		cmd.Stdin = in
	}
	if out != nil {
		cmd.Stdout = out
	}
	if errOut != nil {
		cmd.Stderr = errOut
	}
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}
