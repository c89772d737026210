// Package launch is the parent's side of a container's init (package
// rootfs): it forks an init, hands it its container (namespaces, stdio,
// spec), receives its terminal, tells it to go and learns whether the
// command runs. hostd starts its containers from a thread instead (no
// process before the command's); rootfs's tests start theirs this way,
// and SetStdio serves both.
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

// Options say how to fork an init.
type Options struct {
	// Cloneflags are the namespaces the init gets of its own:
	// CLONE_NEWPID, CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUTS.
	Cloneflags uintptr
	// Start starts the command (cmd.Start when nil); hostd passes its
	// reaper's, which registers the child.
	Start func(*exec.Cmd) error
}

// Init is a forked container init, waiting for its container and then for
// its go.
type Init struct {
	Cmd     *exec.Cmd
	spec    *os.File // write end: the spec, then the go byte
	status  *os.File // read end: EOF, or the init's error
	control *os.File // hostd's end of the control socket
}

// Self is the binary the init runs: hostd's own, whatever its path on
// disk has become since it started.
const Self = "/proc/self/exe"

// Fork starts an init from the calling thread, which must sit in the mount
// namespace the container's is copied from (the child's mount namespace is
// a copy of the thread's). The init starts Go's runtime and waits for
// Hand: its start can happen before the container's is asked for.
func Fork(o Options) (*Init, error) {
	specR, specW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		closeAll(specR, specW)
		return nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		closeAll(specR, specW, statusR, statusW)
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "control"), os.NewFile(uintptr(fds[1]), "control")
	// Arguments show in ps until the command replaces them.
	cmd := &exec.Cmd{
		Path: Self, Args: []string{"nslab-init"}, Env: []string{rootfs.InitEnv}, Dir: "/",
		ExtraFiles:  []*os.File{specR, statusW, theirs},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true, Cloneflags: o.Cloneflags},
	}
	start := o.Start
	if start == nil {
		start = func(c *exec.Cmd) error { return c.Start() }
	}
	err = start(cmd)
	closeAll(specR, statusW, theirs)
	if err != nil {
		closeAll(specW, statusR, ours)
		return nil, err
	}
	return &Init{Cmd: cmd, spec: specW, status: statusR, control: ours}, nil
}

// Container is what an init is handed: the container's network namespace,
// the UTS namespace to share (host mode; nil: the init's own), its stdio
// (nil: /dev/null, or the terminal with Spec.Tty) and spec.
type Container struct {
	NetNS, UTS            *os.File
	Stdin, Stdout, Stderr *os.File
	Spec                  *rootfs.Spec
}

// Hand gives the init its container: the descriptors on the control
// socket, the spec on the spec pipe. The init then builds the root
// filesystem while the caller does something else (joins networks); Run
// lets it execute the command.
func (in *Init) Hand(c Container) error {
	var what rootfs.Handover
	var fds []int
	for _, h := range []struct {
		bit rootfs.Handover
		f   *os.File
	}{{rootfs.HandNet, c.NetNS}, {rootfs.HandUTS, c.UTS}, {rootfs.HandStdin, c.Stdin}, {rootfs.HandStdout, c.Stdout}, {rootfs.HandStderr, c.Stderr}} {
		if h.f != nil {
			what |= h.bit
			fds = append(fds, int(h.f.Fd()))
		}
	}
	if err := unix.Sendmsg(int(in.control.Fd()), []byte{byte(what)}, unix.UnixRights(fds...), nil, 0); err != nil {
		return in.failed(fmt.Errorf("hand the container to its init: %w", err))
	}
	b := c.Spec.Marshal()
	msg := binary.LittleEndian.AppendUint32(nil, uint32(len(b)))
	if _, err := in.spec.Write(append(msg, b...)); err != nil {
		return in.failed(err)
	}
	return nil
}

// failed is err, or what the init said when it died before reading.
func (in *Init) failed(err error) error {
	in.spec.Close()
	in.spec = nil
	if rerr := in.result(); rerr != nil {
		return rerr
	}
	return err
}

// Console receives the terminal master the init allocated (Spec.Tty).
func (in *Init) Console() (*os.File, error) {
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(in.control.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
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
	if in.status == nil {
		return errors.New("container init: status already read")
	}
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

// Close releases hostd's ends; an init still waiting for its container or
// its go exits.
func (in *Init) Close() {
	for _, f := range []*os.File{in.spec, in.status, in.control} {
		if f != nil {
			f.Close()
		}
	}
	in.spec, in.status, in.control = nil, nil, nil
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

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		f.Close()
	}
}
