package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Namespaces names the namespaces of a virtual host by their pins: its
// network namespace and, when set, its UTS and mount namespaces. A function
// run or a process started in it enters all of them, as a login on that
// machine would.
type Namespaces struct {
	Net string // a network namespace pin (/run/netns/NAME) or /proc/PID/ns/net
	UTS string // "": the caller's
	Mnt string // "": the caller's
}

// Do runs fn on a throwaway OS thread that has entered every namespace of
// ns. The pins are opened first, in the caller's mount namespace, so they
// need not exist inside the host's. fn may create files and mounts: paths
// resolve in the host's mount namespace, from its root.
func (ns Namespaces) Do(fn func() error) error {
	fds, kinds, err := ns.open()
	if err != nil {
		return err
	}
	defer closeAll(fds)
	return onThread(func() error {
		if err := enter(fds, kinds, ns); err != nil {
			return err
		}
		return fn()
	})
}

// open opens the pins of ns, in the caller's mount namespace: the host's
// mount namespace goes first, the others do not care.
func (ns Namespaces) open() (fds, kinds []int, err error) {
	for _, e := range []struct {
		path string
		kind int
	}{{ns.Mnt, unix.CLONE_NEWNS}, {ns.Net, unix.CLONE_NEWNET}, {ns.UTS, unix.CLONE_NEWUTS}} {
		if e.path == "" {
			continue
		}
		fd, err := unix.Open(e.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll(fds)
			return nil, nil, fmt.Errorf("open namespace %s: %w", e.path, err)
		}
		fds, kinds = append(fds, fd), append(kinds, e.kind)
	}
	return fds, kinds, nil
}

// enter puts the calling thread into the namespaces open at fds.
func enter(fds, kinds []int, ns Namespaces) error {
	for i, kind := range kinds {
		if kind == unix.CLONE_NEWNS {
			// Go's threads share one fs_struct (root, cwd); setns into a
			// mount namespace needs the thread's own.
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare fs: %w", err)
			}
		}
		if err := unix.Setns(fds[i], kind); err != nil {
			return fmt.Errorf("enter namespaces %+v: %w", ns, err)
		}
	}
	return nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// Start starts cmd inside every namespace of ns: the child inherits the
// namespaces, root and working directory of the thread that forks it.
// cmd.Dir, if set, is a path inside the host's mount namespace.
func (ns Namespaces) Start(cmd *exec.Cmd) error { return ns.Do(cmd.Start) }

// NewHost makes the UTS and mount namespaces of a virtual host whose
// network namespace is base.Net, and pins them at the files uts and mnt
// (created here; they must not exist). The new mount namespace is a copy
// of base.Mnt (a template the caller prepared once for many hosts: a copy
// is cheap when the template holds few mounts) or, without one, of the
// caller's. setup runs on the thread that made them, inside the host's
// network, UTS and mount namespaces, to set the hostname and build the
// host's own mounts (a sysfs mounted there shows the host's devices).
//
// The kernel refuses to bind a mount namespace's file onto a mount that
// propagates to other mount namespaces, since a copy could then hold its
// own namespace (mount_namespaces(7)): mnt must lie on a private mount.
// On error nothing is left.
func NewHost(base Namespaces, uts, mnt string, setup func() error) (Namespaces, error) {
	ns := Namespaces{Net: base.Net, UTS: uts, Mnt: mnt}
	var fds [2]int // uts, mnt
	fds[0], fds[1] = -1, -1
	defer func() {
		for _, fd := range fds {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}()
	err := Namespaces{Net: base.Net, Mnt: base.Mnt}.Do(func() error {
		if err := unix.Unshare(unix.CLONE_NEWUTS | unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("unshare uts and mount namespaces: %w", err)
		}
		var err error
		if fds[0], err = unix.Open("/proc/thread-self/ns/uts", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			return err
		}
		if fds[1], err = unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			return err
		}
		if setup != nil {
			return setup()
		}
		return nil
	})
	if err != nil {
		return ns, fmt.Errorf("host namespaces of %s: %w", base.Net, err)
	}
	if err := bindPin(fds[0], uts); err != nil {
		return ns, err
	}
	if err := bindPin(fds[1], mnt); err != nil {
		return ns, errors.Join(err, Delete(uts))
	}
	return ns, nil
}

// bindPin bind-mounts the namespace fd refers to onto a new file at path.
func bindPin(fd int, path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("pin %s: %w", path, err)
	}
	f.Close()
	if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", fd), path, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		return fmt.Errorf("pin %s: bind mount: %w", path, err)
	}
	return nil
}

// MountPrivateTmpfs mounts a tmpfs of its own on dir (made if missing:
// what dir held before is hidden), its root of the given mode, whose
// mounts do not propagate anywhere: the place a mount namespace's pin may
// go. Removal is an unmount of dir, which takes every pin below it along.
func MountPrivateTmpfs(dir string, mode os.FileMode) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("mode=%04o", mode.Perm())); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	if err := unix.Mount("", dir, "none", unix.MS_PRIVATE, ""); err != nil {
		unix.Unmount(dir, unix.MNT_DETACH)
		return fmt.Errorf("make %s private: %w", dir, err)
	}
	return nil
}

// Exec replaces the process with the program at path, run inside every
// namespace of ns with dir as its working directory (a path inside the
// host; "/" when dir does not exist there). The calling goroutine's thread
// itself enters the namespaces and execs, so that the program gets the
// caller's terminal, signals and exit status with nothing in between: call
// it last, from the main goroutine, which package netns keeps locked to
// its thread. If the exec fails, that thread stays in the host's
// namespaces, locked: the caller only reports the error and exits.
func (ns Namespaces) Exec(dir, path string, argv, env []string) error {
	runtime.LockOSThread() // never unlocked: see above
	fds, kinds, err := ns.open()
	if err != nil {
		return err
	}
	defer closeAll(fds)
	if err := enter(fds, kinds, ns); err != nil {
		return err
	}
	if dir == "" || unix.Chdir(dir) != nil {
		if err := unix.Chdir("/"); err != nil {
			return fmt.Errorf("chdir /: %w", err)
		}
	}
	err = syscall.Exec(path, argv, env)
	return fmt.Errorf("exec %s: %w", path, err)
}
