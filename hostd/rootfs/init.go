// Package rootfs gives a container its own root filesystem and starts its
// command in it. hostd does it from a throwaway thread of its own that
// entered the container's namespaces: Spec.Build mounts the overlay of the
// image's layers with /proc, /dev, /sys and the container's mounts and
// pivots the thread into it, Process.Prepare makes the working directory,
// resolves the user and the command and narrows the bounding set, and the
// command forked from that thread is PID 1 of the container's PID
// namespace.
//
// The same steps can also run in a process of their own, as runc's init
// does: a binary that imports this package, executed again with InitEnv,
// reads the spec hostd sends (package launch), builds the filesystem,
// waits for its go and executes the command, which stays PID 1. The
// package's tests start their containers that way; hostd no longer does,
// as each such init paid for a process and Go's runtime start (about a
// millisecond of CPU) per container.
//
// The package imports nothing but syscall, unsafe and errors, so that its
// init function runs among the very first of a binary's: an init pays for
// Go's runtime start-up and a handful of standard initialisers, not for
// those of the packages that run after.
package rootfs

import (
	"syscall"
	"unsafe"
)

// The environment variable that marks hostd's re-executed binary as a
// container's init; the init's environment holds nothing else, and the
// command gets the spec's environment.
const (
	InitEnv = "_NSLAB_CONTAINER_INIT=1"
	initKey = "_NSLAB_CONTAINER_INIT"
)

// The init's descriptors beside stdin, stdout and stderr.
const (
	// SpecFD is the read end of the spec pipe: the spec (a 4-byte
	// little-endian length, then Spec.Marshal), later the go byte.
	SpecFD = 3
	// StatusFD is the write end of the status pipe, closed on exec: EOF
	// means the command runs; an encoded Error means it does not.
	StatusFD = 4
	// ControlFD is a unix socket (SOCK_SEQPACKET): hostd sends the
	// container's descriptors on it (Handover), the init sends back the
	// master of the container's terminal (Spec.Tty).
	ControlFD = 5
)

// Go is the byte hostd writes once the container may run its command.
const Go = 'g'

// Handover says which descriptors hostd's control message carries, in
// this order: the container's network namespace, then the UTS namespace
// to share (host mode), then its stdin, stdout and stderr. An init is
// forked before it knows its container (hostd keeps one ready), so these
// come with the spec.
type Handover byte

const (
	HandNet Handover = 1 << iota
	HandUTS
	HandStdin
	HandStdout
	HandStderr
)

func init() {
	if v, ok := syscall.Getenv(initKey); !ok || initKey+"="+v != InitEnv {
		return
	}
	// Package initialisers run on the main thread, locked to it: every
	// per-thread attribute set below (namespaces joined, credentials,
	// bounding set) is the exec'd command's.
	runInit()
}

// runInit is the container's init. It never returns.
func runInit() {
	// Nothing but the command's stdio may reach the container: not a
	// descriptor hostd inherited from whoever started it.
	cloexecFrom(SpecFD)
	// hostd forks the init from a private copy of the machine's mounts;
	// make sure anyway that nothing mounted here can propagate back.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		fail(setupError("make / rprivate", err))
	}
	if e := takeHandover(); e != nil {
		fail(e)
	}
	var s Spec
	b, err := readSpec()
	if err == nil {
		err = s.Unmarshal(b)
	}
	if err != nil {
		fail(setupError("container init: read spec", err))
	}
	slave, e := s.setup()
	if e != nil {
		fail(e)
	}
	var c [1]byte
	if n, _ := syscall.Read(SpecFD, c[:]); n != 1 || c[0] != Go {
		// hostd gave up on this start.
		syscall.Exit(1)
	}
	syscall.Close(SpecFD)
	if slave >= 0 {
		if e := takeTerminal(slave); e != nil {
			fail(e)
		}
	}
	fail(s.Process.Exec())
}

// takeHandover waits for hostd's control message, joins the namespaces it
// carries (this thread only: it is the one that executes the command) and
// makes the descriptors it carries the process's stdio. EOF: hostd gave
// this init up (it shuts down).
func takeHandover() *Error {
	buf, oob := make([]byte, 1), make([]byte, syscall.CmsgSpace(5*4))
	n, oobn, _, _, err := syscall.Recvmsg(ControlFD, buf, oob, syscall.MSG_CMSG_CLOEXEC)
	if err != nil || n == 0 {
		syscall.Exit(1)
	}
	var fds []int
	if msgs, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) == 1 {
		fds, _ = syscall.ParseUnixRights(&msgs[0])
	}
	what := Handover(buf[0])
	for _, h := range []struct {
		bit  Handover
		join uintptr // a namespace to join, or 0
		fd   int     // the stdio descriptor it becomes
	}{{HandNet, syscall.CLONE_NEWNET, -1}, {HandUTS, syscall.CLONE_NEWUTS, -1}, {HandStdin, 0, 0}, {HandStdout, 0, 1}, {HandStderr, 0, 2}} {
		if what&h.bit == 0 {
			continue
		}
		if len(fds) == 0 {
			return setupError("container init: handover", syscall.EBADMSG)
		}
		fd := fds[0]
		fds = fds[1:]
		if h.join != 0 {
			if _, _, e := syscall.RawSyscall(sysSetns, uintptr(fd), h.join, 0); e != 0 {
				return setupError("join the container's namespace", e)
			}
		} else if err := syscall.Dup3(fd, h.fd, 0); err != nil {
			return setupError("container init: stdio", err)
		}
		syscall.Close(fd)
	}
	return nil
}

// readSpec reads the length-prefixed spec.
func readSpec() ([]byte, error) {
	var n [4]byte
	if err := readFull(SpecFD, n[:]); err != nil {
		return nil, err
	}
	size := int(n[0]) | int(n[1])<<8 | int(n[2])<<16 | int(n[3])<<24
	if size > 16<<20 {
		return nil, syscall.E2BIG
	}
	b := make([]byte, size)
	return b, readFull(SpecFD, b)
}

func readFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Read(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return syscall.EPIPE
		}
		b = b[n:]
	}
	return nil
}

// fail reports e to hostd and ends the init.
func fail(e *Error) {
	b := e.encode()
	syscall.Write(StatusFD, b)
	syscall.Exit(1)
}

// setup builds the container's filesystem and pivots into it; with a
// terminal it sends the master to hostd and returns the slave.
func (s *Spec) setup() (int, *Error) {
	b, e := s.Build(-1)
	if e != nil {
		return -1, e
	}
	if b.Master >= 0 {
		err := syscall.Sendmsg(ControlFD, []byte{0}, syscall.UnixRights(b.Master), nil, 0)
		syscall.Close(b.Master)
		if err != nil {
			syscall.Close(b.Slave)
			return -1, setupError("send the terminal to hostd", err)
		}
	}
	return b.Slave, nil
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

// Resolved is what a process runs as and runs.
type Resolved struct {
	Path string
	User User
	Env  []string // with HOME from the user's entry when it had none
}

// Resolve finds, in the calling thread's root (the container's), who the
// process runs as and which program it runs, and checks its working
// directory, with runc's words for what is wrong.
func (p *Process) Resolve() (Resolved, *Error) {
	var r Resolved
	u, err := LookupUser(p.User, p.GroupAdd)
	if err != nil {
		return r, err.(*Error)
	}
	r.User, r.Env = u, p.Env
	if !hasEnv(r.Env, "HOME") {
		r.Env = append(r.Env[:len(r.Env):len(r.Env)], "HOME="+u.Home)
	}
	if p.Cwd != "" {
		var st syscall.Stat_t
		if err := syscall.Stat(p.Cwd, &st); err != nil {
			return r, setupError("chdir to cwd ("+quote(p.Cwd)+") set in config.json failed", err)
		}
	}
	if len(p.Args) == 0 {
		return r, execError("", errNotInPath)
	}
	path, err := LookPath(p.Args[0], r.Env)
	if err != nil {
		return r, err.(*Error)
	}
	r.Path = path
	return r, nil
}

// Prepare readies the calling thread, in the container's root, to start
// the process: it makes the working directory if needed (as Docker makes
// WorkingDir), resolves who runs what (Resolve) and narrows the thread's
// bounding set to Caps. What is left is to become the user, enter the
// working directory and execute the command.
func (p *Process) Prepare() (Resolved, *Error) {
	if p.Cwd != "" {
		if err := mkdirAll(p.Cwd); err != nil {
			return Resolved{}, setupError("mkdir "+p.Cwd, err)
		}
	}
	r, e := p.Resolve()
	if e != nil {
		return r, e
	}
	if err := NarrowBoundingSet(p.Caps); err != nil {
		return r, setupError("capabilities", err)
	}
	return r, nil
}

// Exec runs the process in the calling thread's root (the container's):
// it prepares the thread (Prepare), becomes the user and executes the
// command. It returns only on failure.
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

// ExecFailed is the error of an execve of path that failed with errno, of
// runc's kind: not found (127) or not executable (126).
func ExecFailed(path string, errno error) *Error {
	kind := ErrCannotExecute
	if errno == syscall.ENOENT {
		kind = ErrNotFound
	}
	return &Error{Kind: kind, Msg: "exec " + path + ": " + errno.Error()}
}

// mkdirAll makes a directory and its parents (root's, mode 0755).
func mkdirAll(p string) error {
	cur := ""
	for _, c := range components(p) {
		cur += "/" + c
		if err := syscall.Mkdir(cur, 0o755); err != nil && err != syscall.EEXIST {
			return err
		}
	}
	return nil
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

// AllCapabilities is the bounding set of a privileged container.
const AllCapabilities = ^uint64(0)

// NarrowBoundingSet drops every capability outside mask from the calling
// thread's bounding set: a root process it executes then has exactly
// those (its permitted and effective sets after execve are the bounding
// set). The drop cannot be undone, so the thread must be one that ends
// (the init, or a netns.OnThread thread).
func NarrowBoundingSet(mask uint64) error {
	if mask == AllCapabilities {
		return nil
	}
	b, err := readFile("/proc/sys/kernel/cap_last_cap", 64)
	if err != nil {
		return err
	}
	last, ok := atoi(trimSpace(string(b)))
	if !ok {
		return syscall.EINVAL
	}
	for c := uint32(0); c <= last; c++ {
		if c < 64 && mask&(1<<c) != 0 {
			continue
		}
		if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, syscall.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0, 0); e != 0 {
			return e
		}
	}
	return nil
}
