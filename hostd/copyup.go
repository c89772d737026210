package hostd

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// prepareMounts makes what the container's mounts need before its init
// mounts them, as Docker does at start: a missing -v source directory on
// the machine (Docker creates it), and the first filling of an empty
// volume with what the container's root filesystem holds at the volume's
// destination (not with nocopy). Callers hold c.op.
func (d *Daemon) prepareMounts(c *Container) error {
	d.mu.Lock()
	mounts := c.mounts
	d.mu.Unlock()
	type fill struct {
		dst string
		fd  int
	}
	var fills []fill
	defer func() {
		for _, f := range fills {
			unix.Close(f.fd)
		}
	}()
	for _, m := range mounts {
		switch {
		case m.Type == "bind" && !pathExists(m.Source):
			if err := os.MkdirAll(m.Source, 0o755); err != nil {
				return fmt.Errorf("error while creating mount source path '%s': %w", m.Source, err)
			}
		case m.Type == "volume" && m.copyData:
			// Opened here, on the machine: the copy runs where only the
			// container's files are visible.
			fd, err := unix.Open(m.Source, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("volume %s: %w", m.Name, err)
			}
			if empty, _ := dirEmpty(fd); !empty {
				unix.Close(fd)
				continue
			}
			fills = append(fills, fill{m.Destination, fd})
		}
	}
	if len(fills) == 0 {
		return nil
	}
	return d.inView(c, viewRootfs, func() error {
		for _, f := range fills {
			var st unix.Stat_t
			if err := unix.Stat(f.dst, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
				continue // nothing to copy, as Docker
			}
			if err := copyTree(f.dst, f.fd); err != nil {
				return fmt.Errorf("copy %s into its volume: %w", f.dst, err)
			}
			// The volume's root takes the directory's owner and mode.
			unix.Fchown(f.fd, int(st.Uid), int(st.Gid))
			unix.Fchmod(f.fd, st.Mode&0o7777)
		}
		return nil
	})
}

// dirEmpty reports whether the directory fd has no entries.
func dirEmpty(fd int) (bool, error) {
	buf := make([]byte, 4096)
	n, err := unix.Getdents(fd, buf)
	if err != nil {
		return false, err
	}
	names := 0
	for off := 0; off < n; {
		reclen := int(buf[off+16]) | int(buf[off+17])<<8
		name := buf[off+19 : off+reclen]
		if !(name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) {
			names++
		}
		off += reclen
	}
	return names == 0, nil
}

// copyTree copies the directory src (a path of the calling thread's
// root) into the directory dst (a descriptor): files, directories,
// symlinks and special files with their owners, modes and times. Symlinks
// are copied, never followed.
func copyTree(src string, dst int) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p, name := src+"/"+e.Name(), e.Name()
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if err := copyEntry(p, name, &st, dst); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		unix.Fchownat(dst, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			unix.Fchmodat(dst, name, st.Mode&0o7777, 0)
		}
		ts := []unix.Timespec{st.Atim, st.Mtim}
		unix.UtimesNanoAt(dst, name, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	return nil
}

// copyEntry makes one entry of copyTree.
func copyEntry(p, name string, st *unix.Stat_t, dst int) error {
	perm := st.Mode & 0o7777
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(dst, name, perm); err != nil {
			return err
		}
		sub, err := unix.Openat(dst, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(sub)
		return copyTree(p, sub)
	case unix.S_IFREG:
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		fd, err := unix.Openat(dst, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
		if err != nil {
			return err
		}
		out := os.NewFile(uintptr(fd), name)
		defer out.Close()
		_, err = io.Copy(out, in)
		return err
	case unix.S_IFLNK:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		return unix.Symlinkat(target, dst, name)
	case unix.S_IFSOCK:
		return nil
	}
	return unix.Mknodat(dst, name, st.Mode, int(st.Rdev))
}
