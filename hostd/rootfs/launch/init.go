package launch

import (
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostd/rootfs"
)

// Self is the binary the init runs: hostd's own, whatever its path on
// disk has become since it started.
const Self = "/proc/self/exe"

// fromInit forks hostd's binary as the container's init, PID 1 of the
// PID namespace the thread made for its children and in every other
// namespace the thread joined; the init builds the root filesystem and
// executes the command (rootfs's init.go tells the protocol).
type fromInit struct{}

func (fromInit) start(c Container, o Options) (*exec.Cmd, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("container init: control socket: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "control"), os.NewFile(uintptr(fds[1]), "control")
	defer ours.Close()
	// Arguments show in ps until the command replaces them.
	cmd := &exec.Cmd{Path: Self, Args: []string{"nslab-init"}, Env: []string{rootfs.InitEnv}, Dir: "/",
		ExtraFiles: []*os.File{theirs}, SysProcAttr: &unix.SysProcAttr{Setsid: true}}
	if !c.Spec.Tty {
		setStdio(cmd, c.Stdin, c.Stdout, c.Stderr)
	}
	err = o.start(cmd)
	theirs.Close()
	if err != nil {
		return nil, fmt.Errorf("container init: %w", err)
	}
	if err := run(ours, c, o); err != nil {
		// The init exits when its socket closes. A process o.Start
		// started is its caller's to end and collect.
		ours.Close()
		if o.Start == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		return nil, err
	}
	return cmd, nil
}

// run talks to the init: the spec, its terminal, the go once Ready, and
// whether the command runs.
func run(ctl *os.File, c Container, o Options) error {
	fd := int(ctl.Fd())
	if _, err := unix.Write(fd, c.Spec.Marshal()); err != nil {
		return fmt.Errorf("container init: send spec: %w", err)
	}
	master, err := built(fd)
	if err != nil {
		return err
	}
	if master != nil {
		giveTerminal(o, master)
	}
	if o.Ready != nil {
		if err := o.Ready(); err != nil {
			return err
		}
	}
	if _, err := unix.Write(fd, []byte{rootfs.MsgGo}); err != nil {
		return fmt.Errorf("container init: go: %w", err)
	}
	return result(fd)
}

// built waits for the init's MsgBuilt and returns the terminal's master
// it carries (nil without one), or the init's error.
func built(fd int) (*os.File, error) {
	buf, oob := make([]byte, 1024), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("container init: %w", err)
	}
	if n == 0 || buf[0] != rootfs.MsgBuilt {
		return nil, failure(buf[:n])
	}
	if oobn == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("container init: receive the terminal: %v", err)
	}
	rights, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(rights) != 1 {
		return nil, fmt.Errorf("container init: receive the terminal: %v", err)
	}
	return os.NewFile(uintptr(rights[0]), "pty master"), nil
}

// result reads the init's last word: EOF (its end closed on exec: the
// command runs) or its error.
func result(fd int) error {
	buf := make([]byte, 4096)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return fmt.Errorf("container init: %w", err)
	}
	if n == 0 {
		return nil
	}
	return failure(buf[:n])
}

// failure is what a message other than the one expected says: the init's
// error, or that it died without one.
func failure(msg []byte) error {
	if len(msg) > 0 && msg[0] == rootfs.MsgFailed {
		return rootfs.DecodeError(msg[1:])
	}
	if len(msg) == 0 {
		return fmt.Errorf("container init: exited before its command started")
	}
	return fmt.Errorf("container init: unexpected message %q", msg)
}
