package mount

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// DirEmpty reports whether the directory fd has no entries.
func DirEmpty(fd int) (bool, error) {
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

// CopyTree copies the directory src (a path of the calling thread's
// root) into the directory dst (a descriptor): files, directories,
// symlinks and special files with their owners, modes and times. Symlinks
// are copied, never followed.
func CopyTree(src string, dst int) error {
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

// copyEntry makes one entry of CopyTree.
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
		return CopyTree(p, sub)
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
