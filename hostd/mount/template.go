package mount

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// Template is the mount namespace every container's start begins in
// (the container's is a copy) and every private view of a stopped container's
// files is made from: a private copy of the machine's mount table (so
// that nothing mounted in a copy propagates back) without any namespace
// pin (a pin held by a copy would keep another container's network
// namespace alive). The thread that starts a container mounts its root
// filesystem and pivots into it, detaching the copy of the machine's tree. The template is
// made once, when hostd starts; pins made later in the machine's table
// never reach it, so the copy stays small.
type Template struct {
	fd int // the namespace, held open
}

// NewTemplate makes the template on a throwaway thread and keeps it
// by a file descriptor.
func NewTemplate() (*Template, error) {
	fd := -1
	err := netns.OnThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("unshare mount namespace: %w", err)
		}
		// The copy's shared mounts are still peers of the machine's:
		// make everything private first.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make / rprivate: %w", err)
		}
		if err := detachNamespacePins(); err != nil {
			return fmt.Errorf("detach namespace pins: %w", err)
		}
		var err error
		fd, err = unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("mount template: %w", err)
	}
	return &Template{fd: fd}, nil
}

func (t *Template) Close() {
	if t.fd >= 0 {
		unix.Close(t.fd)
		t.fd = -1
	}
}

// Join puts the calling thread, which must be a throwaway locked one
// (netns.OnThread), into the template: a process it forks with
// CLONE_NEWNS gets a copy.
func (t *Template) Join() error {
	// Joining a mount namespace needs an fs_struct of the thread's own;
	// Go's threads share the process's.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs: %w", err)
	}
	if err := unix.Setns(t.fd, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("enter mount template: %w", err)
	}
	return nil
}

// Enter puts the calling thread, a throwaway locked one, into a fresh
// copy of the template of its own, where it may mount what it likes.
func (t *Template) Enter() error {
	if err := t.Join(); err != nil {
		return err
	}
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare mount namespace: %w", err)
	}
	return nil
}

// detachNamespacePins lazily unmounts every namespace pin of the calling
// thread's mount namespace: everything under /run/netns and any other nsfs
// mount (a dockerd's exec-root/netns, say). Deepest first, so parents go
// last.
func detachNamespacePins() error {
	mounts, err := kernel.ThreadMounts()
	if err != nil {
		return err
	}
	var targets []string
	for _, m := range mounts {
		if strings.HasPrefix(m.Point, netns.RunDir+"/") || m.FSType == "nsfs" {
			targets = append(targets, m.Point)
		}
	}
	sort.Slice(targets, func(i, j int) bool { return len(targets[i]) > len(targets[j]) })
	for _, t := range targets {
		if err := unix.Unmount(t, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	return nil
}
