// Package archive is docker cp's and docker export's tar work inside a
// container: the stat of a path as Docker reports it, a tree written as
// Docker's archive, and an archive extracted with Docker's options.
package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nslab/nslab/hostd/errdefs"
	"golang.org/x/sys/unix"
)

// Everything here runs on a thread whose root is the container's (hostd's
// filesystem view): the paths are the container's, and neither ".." nor a
// symlink can lead to the machine's files.

// PathStat is Docker's ContainerPathStat, sent base64-encoded in the
// X-Docker-Container-Path-Stat header.
type PathStat struct {
	Name       string      `json:"name"`
	Size       int64       `json:"size"`
	Mode       os.FileMode `json:"mode"`
	Mtime      time.Time   `json:"mtime"`
	LinkTarget string      `json:"linkTarget"`
}

// ContainerPath is the path a cp names, as Docker cleans it: absolute,
// with a trailing "/" or "/." kept (they ask for the directory's
// content, and to follow a final symlink).
func ContainerPath(p string) string {
	clean := filepath.Join("/", p)
	switch {
	case strings.HasSuffix(p, "/.") || p == ".":
		return strings.TrimSuffix(clean, "/") + "/."
	case strings.HasSuffix(p, "/") && clean != "/":
		return clean + "/"
	}
	return clean
}

// followsLast reports whether a final symlink of p is followed.
func followsLast(p string) bool { return strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") }

// StatPath is Docker's StatPath: the entry p names (a final symlink
// itself unless followsLast), and where a symlink leads.
func StatPath(p string) (PathStat, error) {
	stat := os.Lstat
	if followsLast(p) {
		stat = os.Stat
	}
	fi, err := stat(p)
	if err != nil {
		return PathStat{}, err
	}
	st := PathStat{Name: filepath.Base(p), Size: fi.Size(), Mode: fi.Mode(), Mtime: fi.ModTime()}
	if fi.Mode()&os.ModeSymlink != 0 {
		if st.LinkTarget, err = filepath.EvalSymlinks(p); err != nil {
			st.LinkTarget, _ = os.Readlink(p)
		}
	}
	return st, nil
}

// ErrNoFile is Docker's answer for a path the container does not have.
func ErrNoFile(p, ref string) error {
	return errdefs.NotFound("Could not find the file %s in container %s", p, ref)
}

// TarPath writes the entry p names (and what it holds) as Docker's
// TarResourceRebase does: under the name filepath.Base(p) — "." for a
// directory's content.
func TarPath(tw *tar.Writer, p string) error {
	src := strings.TrimSuffix(p, "/")
	if followsLast(p) && !strings.HasSuffix(p, "/.") {
		// A trailing slash follows a final symlink: archive its target
		// under the link's name.
		if target, err := filepath.EvalSymlinks(src); err == nil {
			src = target
		}
	}
	name := filepath.Base(strings.TrimSuffix(p, "/"))
	if strings.HasSuffix(p, "/.") {
		src, name = strings.TrimSuffix(p, "/."), "."
		if src == "" {
			src = "/"
		}
	}
	return tarTree(tw, src, name)
}

// tarTree writes path as name, and a directory's entries below it, sorted;
// symlinks are archived, never followed.
func tarTree(tw *tar.Writer, path, name string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	link := ""
	if fi.Mode()&os.ModeSymlink != 0 {
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	}
	if fi.Mode()&os.ModeSocket != 0 {
		return nil // tar has no sockets; Docker skips them too
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name, hdr.Uname, hdr.Gname = name, "", ""
	if fi.IsDir() {
		hdr.Name += "/"
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	switch {
	case fi.Mode().IsRegular():
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		f.Close()
		return err
	case fi.IsDir():
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		for _, e := range entries {
			// Not filepath.Join: a directory's content is "./NAME", as
			// Docker writes it.
			if err := tarTree(tw, filepath.Join(path, e.Name()), name+"/"+e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// ExportRoot writes the whole root filesystem, each entry under its path
// without the leading slash, as docker export does.
func ExportRoot(tw *tar.Writer) error {
	entries, err := os.ReadDir("/")
	if err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		if err := tarTree(tw, "/"+e.Name(), e.Name()); err != nil {
			return err
		}
	}
	return nil
}

// UntarOptions are PUT /containers/{id}/archive's.
type UntarOptions struct {
	// NoOverwriteDirNonDir refuses to replace a directory by a file or
	// the reverse.
	NoOverwriteDirNonDir bool
	// CopyUIDGID keeps the archive's owners (docker cp -a); else every
	// entry belongs to the container's root, as Docker makes it.
	CopyUIDGID bool
}

// errBreakout is an entry that would land outside the directory it is
// extracted into.
var errBreakout = errors.New("invalid archive entry: it names a path outside the extraction directory")

// Untar extracts an archive into the directory dir.
func Untar(r io.Reader, dir string, o UntarOptions) error {
	tr := tar.NewReader(r)
	type dirTimes struct {
		path string
		hdr  *tar.Header
	}
	var dirs []dirTimes
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dir, hdr.Name)
		if p != dir && !strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/") {
			return fmt.Errorf("%s: %w", hdr.Name, errBreakout)
		}
		if err := extractEntry(tr, hdr, p, dir, o); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeDir {
			dirs = append(dirs, dirTimes{p, hdr})
		}
	}
	// Directories' times last: their entries changed them.
	for _, d := range dirs {
		setTimes(d.path, d.hdr)
	}
	return nil
}

// extractEntry makes one entry at p.
func extractEntry(tr *tar.Reader, hdr *tar.Header, p, dir string, o UntarOptions) error {
	if fi, err := os.Lstat(p); err == nil {
		isDir := hdr.Typeflag == tar.TypeDir
		if o.NoOverwriteDirNonDir && fi.IsDir() && !isDir {
			return errdefs.BadRequest("cannot overwrite directory %q with non-directory %q", p, hdr.Name)
		}
		if o.NoOverwriteDirNonDir && !fi.IsDir() && isDir {
			return errdefs.BadRequest("cannot overwrite non-directory %q with directory %q", p, hdr.Name)
		}
		if !(fi.IsDir() && isDir) {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
		}
	}
	mode := uint32(hdr.Mode) & 0o7777
	var err error
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err = os.Mkdir(p, os.FileMode(mode)); os.IsExist(err) {
			err = nil
		}
	case tar.TypeReg:
		var f *os.File
		if f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, os.FileMode(mode)); err == nil {
			_, err = io.Copy(f, tr)
			err = errors.Join(err, f.Close())
		}
	case tar.TypeSymlink:
		err = os.Symlink(hdr.Linkname, p)
	case tar.TypeLink:
		target := filepath.Join(dir, hdr.Linkname)
		if !strings.HasPrefix(target, strings.TrimSuffix(dir, "/")+"/") {
			return fmt.Errorf("%s: %w", hdr.Linkname, errBreakout)
		}
		err = os.Link(target, p)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		err = unix.Mknod(p, kind|mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))))
	default:
		return nil // extended headers and the rest: nothing to make
	}
	if err != nil {
		return err
	}
	uid, gid := 0, 0
	if o.CopyUIDGID {
		uid, gid = hdr.Uid, hdr.Gid
	}
	if err := os.Lchown(p, uid, gid); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeSymlink && hdr.Typeflag != tar.TypeLink {
		// After chown, which clears the set-id bits.
		if err := os.Chmod(p, os.FileMode(mode)|setidBits(mode)); err != nil {
			return err
		}
	}
	if hdr.Typeflag != tar.TypeDir {
		setTimes(p, hdr)
	}
	return nil
}

// setidBits turns the set-id and sticky bits of a tar mode into Go's.
func setidBits(mode uint32) os.FileMode {
	var m os.FileMode
	if mode&unix.S_ISUID != 0 {
		m |= os.ModeSetuid
	}
	if mode&unix.S_ISGID != 0 {
		m |= os.ModeSetgid
	}
	if mode&unix.S_ISVTX != 0 {
		m |= os.ModeSticky
	}
	return m
}

// setTimes sets an entry's access and modification times, a symlink's own.
func setTimes(p string, hdr *tar.Header) {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}
