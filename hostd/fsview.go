package hostd

import (
	"net/http"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/mount"
	"github.com/nslab/nslab/hostd/rootfs"
	"github.com/nslab/nslab/netns"
)

// What hostd reads or writes of a container's files (docker cp, export, a
// volume's first filling) it reaches through the container's own mount
// namespace or a private one, from a throwaway thread whose root is the
// container's root: every path, absolute symlinks included, resolves
// inside the container, as it would for the container's processes. Never
// by walking the machine's directories under the data root.

// View says what a view of a container's files holds.
type View int

const (
	// ViewAll is what the container sees: its root filesystem and its
	// mounts (volumes, binds, /etc/hosts).
	ViewAll View = iota
	// ViewRootfs is its root filesystem alone, as docker export shows
	// it (and a new volume is filled from): the image's layers, the init
	// layer and its writes.
	ViewRootfs
)

// inView runs fn on a throwaway thread whose root and working directory
// are a view of the container's files: a running container's own mount
// namespace (viewRootfs: a detached clone of its root mount, without the
// mounts on it), else a private copy of the mount template where the
// container's filesystem is mounted as its start would mount it. The
// caller holds c.op when the container may be stopped, so that no start
// mounts the same upper directory meanwhile.
func (d *Daemon) inView(c *Container, what View, fn func() error) error {
	d.mu.Lock()
	r := c.run
	mounts := c.mounts
	d.mu.Unlock()
	return netns.OnThread(func() error {
		if r != nil {
			if err := mount.EnterContainer(r.proc, what == ViewRootfs); err != nil {
				return err
			}
			return fn()
		}
		if err := d.mounts.Enter(); err != nil {
			return err
		}
		root, err := rootfs.MountRoot(c.rootDir(), d.layers(c), c.upperDir(), c.workDirFS())
		if err != nil {
			return err
		}
		defer unix.Close(root)
		if what == ViewAll {
			for _, m := range d.containerMounts(c, mounts, netSetup{}) {
				if m.Kind == rootfs.Tmpfs {
					continue // nothing is in a stopped container's tmpfs
				}
				if err := rootfs.MountIn(root, m); err != nil {
					return err
				}
			}
		}
		if err := mount.Chroot(root); err != nil {
			return err
		}
		return fn()
	})
}

// LockedView is inView for a request: a stopped container is held (c.op)
// while its files are mounted privately, so that no start mounts its upper
// directory at the same time; a running one is not (stop must not wait).
func (d *Daemon) LockedView(c *Container, what View, fn func() error) error {
	c.op.Lock()
	d.mu.Lock()
	running := c.run != nil
	d.mu.Unlock()
	if running {
		c.op.Unlock()
	} else {
		defer c.op.Unlock()
	}
	return d.inView(c, what, fn)
}

// WritableAt refuses, as Docker does before it extracts anything, a
// destination on a read-only root filesystem or in a read-only volume.
func (d *Daemon) WritableAt(c *Container, p string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var in *mount.Point
	for _, m := range c.mounts {
		under := p == m.Destination || strings.HasPrefix(p, strings.TrimSuffix(m.Destination, "/")+"/")
		if m.Type != "tmpfs" && under && (in == nil || len(m.Destination) > len(in.Destination)) {
			in = m
		}
	}
	switch {
	case in != nil && !in.RW:
		return errdefs.Errorf(http.StatusInternalServerError, "mounted volume is marked read-only")
	case in == nil && c.HostConfig.ReadonlyRootfs:
		return errdefs.Errorf(http.StatusInternalServerError, "container rootfs is marked read-only")
	}
	return nil
}
