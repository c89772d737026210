// Package netns creates, enters and removes network namespaces without ever
// switching the namespace of a thread that the Go scheduler may reuse.
//
// Every switch happens on a goroutine that locks its OS thread and never
// unlocks it: when the goroutine returns, the runtime ends the thread, so a
// thread left in a lab namespace can never run unrelated code (the bug class
// containernetworking/plugins paid for in pkg/ns).
package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// RunDir is where named namespaces are pinned, as iproute2 does, so that
// `ip netns exec NAME` works for every namespace the lab makes.
const RunDir = "/run/netns"

// Path returns the pin path of the named namespace.
func Path(name string) string { return filepath.Join(RunDir, name) }

// NewNamed creates a network namespace and pins it at /run/netns/NAME with a
// bind mount, like `ip netns add NAME`. Its loopback is brought up. The
// caller's namespace is never changed. It fails if NAME exists already.
func NewNamed(name string) (string, error) {
	path, err := pinFile(name)
	if err != nil {
		return "", err
	}
	err = onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind mount: %w", err)
		}
		return nil
	})
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("netns %s: %w", name, err)
	}
	if err := SetUp(path, "lo"); err != nil {
		Delete(path)
		return "", err
	}
	return path, nil
}

// Pin bind-mounts the namespace at src (for example /proc/PID/ns/net) at
// /run/netns/NAME so that ip(8) can enter it. It fails if NAME exists.
func Pin(src, name string) (string, error) {
	if err := EnsureRunDir(); err != nil {
		return "", err
	}
	return pin(src, name)
}

// pin is Pin once RunDir is ready.
func pin(src, name string) (string, error) { return pinWith(&callerPinFiles, src, name) }

// pinWith is pin with the pin file made by files.
func pinWith(files *pinFiles, src, name string) (string, error) {
	path, err := files.create(name)
	if err != nil {
		return "", err
	}
	if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("netns %s: bind mount %s: %w", name, src, err)
	}
	return path, nil
}

// pinFile creates the empty file /run/netns/NAME that a namespace is then
// bind-mounted on, as iproute2 does; it fails if NAME exists.
func pinFile(name string) (string, error) {
	if err := EnsureRunDir(); err != nil {
		return "", err
	}
	return callerPinFiles.create(name)
}

// Delete unpins a namespace: it unmounts and removes the pin file. The
// namespace itself goes away with its last user. A pin that is already gone
// is not an error, so teardown can be repeated.
func Delete(pathOrName string) error {
	path := pathOrName
	if !filepath.IsAbs(path) {
		path = Path(path)
	}
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("netns %s: unmount: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("netns %s: remove pin: %w", path, err)
	}
	return nil
}

// Do runs fn on an OS thread that has entered the namespace at path. The
// thread is discarded afterwards. Sockets fn opens belong to the namespace and
// may be used from any goroutine once fn returns; goroutines fn starts do not
// inherit the namespace.
func Do(path string, fn func() error) error {
	return onThread(func() error {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open netns %s: %w", path, err)
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("enter netns %s: %w", path, err)
		}
		return fn()
	})
}

// Call is Do for an fn that returns a value as well, most often a socket
// or a handle that must be born inside the namespace.
func Call[T any](path string, fn func() (T, error)) (T, error) {
	var v T
	err := Do(path, func() (err error) {
		v, err = fn()
		return err
	})
	return v, err
}

// StartIn starts cmd inside the network namespace at path. The child
// inherits the namespace of the thread that forks it; everything else about
// cmd (its own Cloneflags for new UTS or mount namespaces) applies as usual.
func StartIn(path string, cmd *exec.Cmd) error {
	return Do(path, cmd.Start)
}

// The main goroutine keeps the process's first thread for itself. A goroutine
// that locks a thread and exits without unlocking ends that thread, except
// when it is the main thread, which the runtime cannot end and parks forever
// instead: it would then stay in a lab namespace, keep that namespace alive
// after its pin is removed, and make /proc/self/ns/net lie. Locking the main
// thread to the main goroutine here means onThread never gets it.
func init() { runtime.LockOSThread() }

// onThread runs fn on a fresh locked OS thread that dies afterwards.
func onThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread may be in another namespace now, so the
		// runtime must end it when this goroutine returns.
		errc <- fn()
	}()
	return <-errc
}

// Handle returns a netlink handle bound to the namespace at path. Close it.
func Handle(path string) (*netlink.Handle, error) {
	ns, err := vns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in %s: %w", path, err)
	}
	return h, nil
}

// Inode returns the namespace identity of path (a pin, or /proc/PID/ns/net).
// Two paths name the same namespace exactly when their inodes are equal.
// A /proc/.../ns/ link is read rather than followed ("net:[4026531840]"):
// half the kernel's work of a stat, and a teardown's scan asks it three
// times of every process of the machine.
func Inode(path string) (uint64, error) {
	if strings.HasPrefix(path, "/proc/") {
		if ino, ok := linkInode(path); ok {
			return ino, nil
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Ino, nil
}

// linkInode reads the inode from the target of a /proc namespace link,
// "KIND:[INODE]"; false for anything else (the caller stats it).
func linkInode(path string) (uint64, bool) {
	var buf [64]byte
	n, err := unix.Readlink(path, buf[:])
	if err != nil || n == 0 || buf[n-1] != ']' {
		return 0, false
	}
	target := string(buf[:n-1])
	i := strings.LastIndexByte(target, '[')
	if i < 0 {
		return 0, false
	}
	ino, err := strconv.ParseUint(target[i+1:], 10, 64)
	return ino, err == nil
}

// SetUp brings the named link up inside the namespace at path.
func SetUp(path, link string) error {
	h, err := Handle(path)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(link)
	if err != nil {
		return fmt.Errorf("netns %s: link %s: %w", path, link, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("netns %s: set %s up: %w", path, link, err)
	}
	return nil
}
