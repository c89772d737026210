// Package rootfs gives a container its own root filesystem and readies its
// command, from a throwaway thread of hostd's that entered the container's
// namespaces (package launch starts it): Spec.Build mounts the overlay of
// the image's layers with /proc, /dev, /sys and the container's mounts and
// pivots the thread into it; Process.Prepare makes the working directory,
// resolves the user and the command and narrows the bounding set. What the
// thread forks then runs in the container. runc does the same steps in an
// init process of its own before the command; from a thread they cost no
// process and no runtime start.
package rootfs

import "syscall"

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

// AllCapabilities is the bounding set of a privileged container.
const AllCapabilities = ^uint64(0)

// NarrowBoundingSet drops every capability outside mask from the calling
// thread's bounding set: a root process it executes then has exactly
// those (its permitted and effective sets after execve are the bounding
// set). The drop cannot be undone, so the thread must be one that ends
// (a netns.OnThread thread).
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
