package rootfs

import (
	"syscall"
	"unsafe"
)

// The fallback start, for kernels before 6.15: their proc has no pidns
// option, so /proc shows the PID namespace of the task that mounts it and
// only a process inside the container's PID namespace can mount the
// container's. hostd's thread that entered the container's namespaces
// then forks hostd's own binary, re-executed as the container's init: PID
// 1 of the new PID namespace, in every namespace the thread joined. This
// file's init function recognises that process: it reads the spec,
// builds the root filesystem (Spec.Build), reports, waits for hostd's go
// (the network is ready) and executes the command, which stays PID 1.
// The package imports nothing that initialises late, so that the init
// runs among the very first of the binary's package initialisers.

// InitEnv marks hostd's re-executed binary as a container's init; the
// init's environment holds nothing else, and the command gets the spec's.
const (
	InitEnv = "_NSLAB_CONTAINER_INIT=1"
	initKey = "_NSLAB_CONTAINER_INIT"
)

// ControlFD is the init's end of a SOCK_SEQPACKET socket with hostd, its
// only descriptor beside stdin, stdout and stderr. hostd sends the spec
// (Spec.Marshal); the init answers MsgBuilt (with the terminal's master
// when Spec.Tty) or MsgFailed and the encoded Error; hostd sends MsgGo;
// the socket closes on exec (EOF: the command runs), or the init sends
// MsgFailed.
const ControlFD = 3

// The first byte of each message on the control socket.
const (
	MsgBuilt  = 'b'
	MsgFailed = 'e'
	MsgGo     = 'g'
)

// MaxSpec is the size of the largest spec the init reads: a seqpacket
// message is read whole or truncated.
const MaxSpec = 128 << 10

func init() {
	if v, ok := syscall.Getenv(initKey); !ok || initKey+"="+v != InitEnv {
		return
	}
	// Package initialisers run on the main thread, locked to it: the
	// credentials and bounding set set below are the exec'd command's.
	runInit()
}

// runInit is the container's init. It never returns.
func runInit() {
	// Nothing but the command's stdio may reach the container: not a
	// descriptor hostd inherited from whoever started it.
	cloexecFrom(ControlFD)
	var s Spec
	b := make([]byte, MaxSpec)
	n, err := syscall.Read(ControlFD, b)
	if err == nil {
		err = s.Unmarshal(b[:n])
	}
	if err != nil {
		fail(setupError("container init: read spec", err))
	}
	built, e := s.Build(-1)
	if e != nil {
		fail(e)
	}
	var rights []byte
	if built.Master >= 0 {
		rights = syscall.UnixRights(built.Master)
	}
	if err := syscall.Sendmsg(ControlFD, []byte{MsgBuilt}, rights, nil, 0); err != nil {
		syscall.Exit(1)
	}
	if n, _ := syscall.Read(ControlFD, b[:1]); n != 1 || b[0] != MsgGo {
		// hostd gave up on this start.
		syscall.Exit(1)
	}
	if built.Slave >= 0 {
		if e := takeTerminal(built.Slave); e != nil {
			fail(e)
		}
	}
	fail(s.Process.Exec())
}

// fail reports e to hostd and ends the init.
func fail(e *Error) {
	syscall.Write(ControlFD, append([]byte{MsgFailed}, e.encode()...))
	syscall.Exit(1)
}

// takeTerminal makes the slave the process's stdio and controlling
// terminal (the init is a session leader: hostd starts it with setsid).
func takeTerminal(slave int) *Error {
	for fd := 0; fd < 3; fd++ {
		if err := syscall.Dup3(slave, fd, 0); err != nil {
			return setupError("dup terminal", err)
		}
	}
	syscall.Close(slave)
	if _, err := ioctlInt(0, ioctlTIOCSCTTY, 0); err != nil {
		return setupError("set controlling terminal", err)
	}
	return nil
}

// Exec executes the process from the calling thread, in the container's
// root: Prepare, then it becomes the user, enters the working directory
// and executes the command. It returns only on failure.
func (p *Process) Exec() *Error {
	r, e := p.Prepare()
	if e != nil {
		return e
	}
	if err := setCredentials(r.User); err != nil {
		return setupError("set user", err)
	}
	if p.Cwd != "" {
		if err := syscall.Chdir(p.Cwd); err != nil {
			return setupError("chdir to cwd ("+quote(p.Cwd)+") set in config.json failed", err)
		}
	}
	return ExecFailed(r.Path, syscall.Exec(r.Path, p.Args, r.Env))
}

// setCredentials switches the calling thread to the user: supplementary
// groups, group, then user (after which a non-root user has no
// capability left). Only this thread: it executes the command next.
func setCredentials(u User) error {
	var groups *uint32
	if len(u.Groups) > 0 {
		groups = &u.Groups[0]
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETGROUPS, uintptr(len(u.Groups)), uintptr(unsafe.Pointer(groups)), 0); e != 0 {
		return e
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return e
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return e
	}
	return nil
}

// CheckProcPidns says whether the kernel's proc takes the pidns option
// (Linux 6.15) that Build uses to show a PID namespace the mounting thread
// is not in: it configures a proc context with pidns and creates nothing.
func CheckProcPidns(pidns int) error {
	fs, err := fsopen("proc")
	if err != nil {
		return err
	}
	defer syscall.Close(fs)
	return fsconfigFd(fs, "pidns", pidns)
}
