package hostd

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostd/rootfs"
	"github.com/nslab/nslab/netns"
)

// What hostd reads or writes of a container's files (docker cp, export, a
// volume's first filling) it reaches through the container's own mount
// namespace or a private one, from a throwaway thread whose root is the
// container's root: every path, absolute symlinks included, resolves
// inside the container, as it would for the container's processes. Never
// by walking the machine's directories under the data root.

// view says what a view of a container's files holds.
type view int

const (
	// viewAll is what the container sees: its root filesystem and its
	// mounts (volumes, binds, /etc/hosts).
	viewAll view = iota
	// viewRootfs is its root filesystem alone, as docker export shows
	// it (and a new volume is filled from): the image's layers, the init
	// layer and its writes.
	viewRootfs
)

// inView runs fn on a throwaway thread whose root and working directory
// are a view of the container's files: a running container's own mount
// namespace (viewRootfs: a detached clone of its root mount, without the
// mounts on it), else a private copy of the mount template where the
// container's filesystem is mounted as its init would mount it. The
// caller holds c.op when the container may be stopped, so that no start
// mounts the same upper directory meanwhile.
func (d *Daemon) inView(c *Container, what view, fn func() error) error {
	d.mu.Lock()
	r := c.run
	mounts := c.mounts
	d.mu.Unlock()
	return netns.OnThread(func() error {
		if r != nil {
			if err := enterRunning(r, what == viewRootfs); err != nil {
				return err
			}
			return fn()
		}
		if err := d.mounts.enter(); err != nil {
			return err
		}
		root, err := rootfs.MountRoot(c.rootDir(), d.layers(c), c.upperDir(), c.workDirFS())
		if err != nil {
			return err
		}
		defer unix.Close(root)
		if what == viewAll {
			for _, m := range d.containerMounts(c, mounts, netSetup{}) {
				if m.Kind == rootfs.Tmpfs {
					continue // nothing is in a stopped container's tmpfs
				}
				if err := rootfs.MountIn(root, m); err != nil {
					return err
				}
			}
		}
		if err := chrootTo(root); err != nil {
			return err
		}
		return fn()
	})
}

// enterRunning joins a running container's mount namespace (its root
// becomes the thread's); with rootOnly, the thread's root is then a
// detached clone of the container's root mount alone.
func enterRunning(r *run, rootOnly bool) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs: %w", err)
	}
	if err := r.proc.Setns(unix.CLONE_NEWNS); err != nil {
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
	return chrootTo(fd)
}

// chrootTo makes the directory fd the calling thread's root and working
// directory (the thread has an fs_struct of its own).
func chrootTo(fd int) error {
	if err := unix.Fchdir(fd); err != nil {
		return fmt.Errorf("chdir to the container's root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot to the container's root: %w", err)
	}
	return unix.Chdir("/")
}
