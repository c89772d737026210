package mount

import (
	"fmt"

	"github.com/nslab/nslab/hostd/proc"
	"golang.org/x/sys/unix"
)

// EnterContainer joins a running container's mount namespace (its root
// becomes the thread's); with rootOnly, the thread's root is then a
// detached clone of the container's root mount alone.
func EnterContainer(containerInit *proc.Child, rootOnly bool) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs: %w", err)
	}
	if err := containerInit.Setns(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("join the container's mount namespace: %w", err)
	}
	if !rootOnly {
		return nil
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, "/", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("clone the container's root mount: %w", err)
	}
	defer unix.Close(fd)
	return Chroot(fd)
}

// Chroot makes the directory fd the calling thread's root and working
// directory (the thread has an fs_struct of its own).
func Chroot(fd int) error {
	if err := unix.Fchdir(fd); err != nil {
		return fmt.Errorf("chdir to the container's root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot to the container's root: %w", err)
	}
	return unix.Chdir("/")
}
