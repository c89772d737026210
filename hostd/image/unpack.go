package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// AUFS whiteouts, the form Docker's layer tars carry: ".wh.NAME" deletes
// NAME of the layers below, ".wh..wh..opq" hides everything below in its
// directory; other ".wh..wh." names are AUFS's own bookkeeping.
const (
	whiteoutPrefix     = ".wh."
	whiteoutMetaPrefix = ".wh..wh."
	whiteoutOpaqueDir  = ".wh..wh..opq"
)

// overlayOpaque marks an opaque directory for overlayfs.
const overlayOpaque = "trusted.overlay.opaque"

// ErrUnsafe is the kind of every entry a layer may not hold: a name or a
// link leading outside its tree, a device node.
var ErrUnsafe = errors.New("unsafe layer entry")

// unpacker writes one layer's entries into a tree. Every parent directory
// is resolved by openat2 with RESOLVE_IN_ROOT, so that a symlink of the
// layer, absolute or full of "..", resolves inside the tree as it would in
// a chroot, and every entry is made with an *at call relative to that
// parent, never following a symlink at its own name.
type unpacker struct {
	root int
	// dirs get their times last: making entries inside a directory
	// changes its mtime.
	dirs []dirTimes
}

type dirTimes struct {
	rel   string
	atime time.Time
	mtime time.Time
}

// Unpack writes the layer tar r into the directory dir, AUFS whiteouts
// becoming overlayfs ones, and returns the layer's size as Docker counts
// it (the sizes of its tar headers). r is read only up to the tar's end.
func Unpack(dir string, r io.Reader) (int64, error) {
	root, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return 0, fmt.Errorf("unpack: open %s: %w", dir, err)
	}
	defer unix.Close(root)
	u := &unpacker{root: root}
	tr := tar.NewReader(r)
	var size int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, &UnpackError{Err: err}
		}
		size += hdr.Size
		if err := u.entry(hdr, tr); err != nil {
			return 0, &UnpackError{Name: hdr.Name, Err: err}
		}
	}
	for i := len(u.dirs) - 1; i >= 0; i-- {
		if err := u.setDirTimes(u.dirs[i]); err != nil {
			return 0, &UnpackError{Name: u.dirs[i].rel, Err: err}
		}
	}
	return size, nil
}

// UnpackError is an error of Unpack: the tar could not be read (no Name),
// or the entry Name could not be made.
type UnpackError struct {
	Name string
	Err  error
}

func (e *UnpackError) Error() string {
	if e.Name == "" {
		return "unpack: " + e.Err.Error()
	}
	return "unpack: " + e.Name + ": " + e.Err.Error()
}

func (e *UnpackError) Unwrap() error { return e.Err }

// cleanName turns an entry name into a path relative to the tree, as
// Docker does: cleaned, an absolute name rooted at the tree; "" is the
// tree's root. A name that climbs out of the tree is refused.
func cleanName(name string) (string, error) {
	p := path.Clean(name)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("%w: %q is outside of the layer", ErrUnsafe, name)
	}
	p = strings.TrimLeft(path.Clean("/"+p), "/")
	return p, nil
}

func (u *unpacker) entry(hdr *tar.Header, r io.Reader) error {
	rel, err := cleanName(hdr.Name)
	if err != nil || rel == "" {
		// The root's own entry changes nothing, as in Docker.
		return err
	}
	if first, _, _ := strings.Cut(rel, "/"); strings.HasPrefix(first, whiteoutMetaPrefix) && first != whiteoutOpaqueDir {
		return nil
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	dir, base := path.Split(rel)
	parent, err := u.mkdirAll(strings.TrimSuffix(dir, "/"))
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	switch {
	case base == whiteoutOpaqueDir:
		return unix.Fsetxattr(parent, overlayOpaque, []byte("y"), 0)
	case strings.HasPrefix(base, whiteoutPrefix):
		return whiteout(parent, strings.TrimPrefix(base, whiteoutPrefix), hdr)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		// Replace what is there, except a directory by a directory: that
		// only takes the new metadata.
		if !(st.Mode&unix.S_IFMT == unix.S_IFDIR && hdr.Typeflag == tar.TypeDir) {
			if err := removeAllAt(parent, base); err != nil {
				return err
			}
		}
	}
	if err := u.create(parent, dir, base, hdr, r); err != nil {
		return err
	}
	return u.metadata(parent, rel, base, hdr)
}

// create makes the entry's own file, directory, link or node.
func (u *unpacker) create(parent int, dir, base string, hdr *tar.Header, r io.Reader) error {
	mode := uint32(hdr.Mode) & 0o7777
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(parent, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
	case tar.TypeReg:
		fd, err := unix.Openat(parent, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), base)
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	case tar.TypeSymlink:
		// Docker refuses a relative target that climbs out of the layer;
		// an absolute one is the container's own path.
		if t := path.Join(dir, hdr.Linkname); t == ".." || strings.HasPrefix(t, "../") {
			return fmt.Errorf("%w: invalid symlink %q -> %q", ErrUnsafe, hdr.Name, hdr.Linkname)
		}
		return unix.Symlinkat(hdr.Linkname, parent, base)
	case tar.TypeLink:
		return u.hardlink(parent, base, hdr)
	case tar.TypeFifo:
		return unix.Mknodat(parent, base, unix.S_IFIFO|mode, 0)
	case tar.TypeChar:
		if hdr.Devmajor != 0 || hdr.Devminor != 0 {
			return fmt.Errorf("%w: character device %d:%d (a layer may hold no device but a 0:0 whiteout)", ErrUnsafe, hdr.Devmajor, hdr.Devminor)
		}
		return unix.Mknodat(parent, base, unix.S_IFCHR, 0)
	case tar.TypeBlock:
		return fmt.Errorf("%w: block device %d:%d (a layer may hold no device but a 0:0 whiteout)", ErrUnsafe, hdr.Devmajor, hdr.Devminor)
	default:
		return fmt.Errorf("unhandled tar header type %d", hdr.Typeflag)
	}
	return nil
}

// hardlink links base to the entry's target, an earlier entry of the
// layer; the target is found inside the tree as any parent is.
func (u *unpacker) hardlink(parent int, base string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil || target == "" {
		return fmt.Errorf("%w: invalid hardlink %q -> %q", ErrUnsafe, hdr.Name, hdr.Linkname)
	}
	tdir, tbase := path.Split(target)
	tparent, err := u.openDir(strings.TrimSuffix(tdir, "/"))
	if err != nil {
		return fmt.Errorf("hardlink target %s: %w", hdr.Linkname, err)
	}
	defer unix.Close(tparent)
	return unix.Linkat(tparent, tbase, parent, base, 0)
}

// metadata gives the entry its owner, extended attributes, mode and times
// (a directory's times wait until the end). A hard link shares its
// target's.
func (u *unpacker) metadata(parent int, rel, base string, hdr *tar.Header) error {
	if hdr.Typeflag == tar.TypeLink {
		return nil
	}
	if err := unix.Fchownat(parent, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeSymlink {
		return setTimes(parent, base, hdr.AccessTime, hdr.ModTime)
	}
	if err := setXattrs(parent, base, hdr); err != nil {
		return err
	}
	// After chown, which clears the set-user-ID and set-group-ID bits.
	if err := chmodAt(parent, base, uint32(hdr.Mode)&0o7777); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeDir {
		u.dirs = append(u.dirs, dirTimes{rel: rel, atime: hdr.AccessTime, mtime: hdr.ModTime})
		return nil
	}
	return setTimes(parent, base, hdr.AccessTime, hdr.ModTime)
}

// setXattrs applies the user.* and security.capability attributes of the
// entry (ping's capability, say); others, trusted.overlay.* above all,
// could change what overlayfs shows, and are left out.
func setXattrs(parent int, base string, hdr *tar.Header) error {
	var fd = -1
	defer func() {
		if fd >= 0 {
			unix.Close(fd)
		}
	}()
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || !(strings.HasPrefix(name, "user.") || name == "security.capability") {
			continue
		}
		if fd < 0 {
			var err error
			// O_PATH: a FIFO opened for reading would wait for a writer.
			if fd, err = unix.Openat(parent, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err != nil {
				return err
			}
		}
		if err := unix.Setxattr(fmt.Sprintf("/proc/self/fd/%d", fd), name, []byte(v), 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("xattr %s: %w", name, err)
		}
	}
	return nil
}

// chmodAt changes the mode of an entry that is not a symlink.
func chmodAt(parent int, base string, mode uint32) error {
	err := unix.Fchmodat(parent, base, mode, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		// No fchmodat2 (before Linux 6.6): the entry was just made by
		// this unpacker as no symlink, in a tree only it writes.
		err = unix.Fchmodat(parent, base, mode, 0)
	}
	return err
}

func setTimes(parent int, base string, atime, mtime time.Time) error {
	if atime.IsZero() {
		atime = mtime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	return unix.UtimesNanoAt(parent, base, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func (u *unpacker) setDirTimes(d dirTimes) error {
	dir, base := path.Split(d.rel)
	parent, err := u.openDir(strings.TrimSuffix(dir, "/"))
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	return setTimes(parent, base, d.atime, d.mtime)
}

// whiteout makes name an overlayfs whiteout: a 0:0 character device.
func whiteout(parent int, name string, hdr *tar.Header) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("%w: whiteout of %q", ErrUnsafe, name)
	}
	if err := removeAllAt(parent, name); err != nil {
		return err
	}
	if err := unix.Mknodat(parent, name, unix.S_IFCHR, 0); err != nil {
		return err
	}
	return unix.Fchownat(parent, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
}

// openDir opens the tree's directory rel ("" for the root), resolving it
// inside the tree.
func (u *unpacker) openDir(rel string) (int, error) {
	if rel == "" {
		rel = "."
	}
	return unix.Openat2(u.root, rel, &unix.OpenHow{
		Flags:   unix.O_DIRECTORY | unix.O_RDONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// mkdirAll opens the directory rel, making what is missing of it (0755,
// root's), as Docker makes a layer's implied parents.
func (u *unpacker) mkdirAll(rel string) (int, error) {
	fd, err := u.openDir(rel)
	if !errors.Is(err, unix.ENOENT) || rel == "" {
		return fd, err
	}
	dir, base := path.Split(rel)
	parent, err := u.mkdirAll(strings.TrimSuffix(dir, "/"))
	if err != nil {
		return -1, err
	}
	err = unix.Mkdirat(parent, base, 0o755)
	unix.Close(parent)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, err
	}
	return u.openDir(rel)
}

// removeAllAt removes name in the directory parent and, for a directory,
// everything below it, never following a symlink.
func removeAllAt(parent int, name string) error {
	err := unix.Unlinkat(parent, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return err
	}
	fd, err := unix.Openat(parent, name, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), name)
	names, err := d.Readdirnames(-1)
	if err == nil {
		for _, n := range names {
			if err = removeAllAt(fd, n); err != nil {
				break
			}
		}
	}
	d.Close()
	if err != nil {
		return err
	}
	return unix.Unlinkat(parent, name, unix.AT_REMOVEDIR)
}
