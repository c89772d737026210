package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: layers hold files of any owner, whiteouts are device nodes, opaque directories trusted.* attributes")
	}
}

// layerTar builds a tar from headers; a regular file's content is its
// Linkname field's value when Size is set (kept short for the tests).
type tarEntry struct {
	hdr  tar.Header
	data string
}

func layerTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		h.Size = int64(len(e.data))
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func reg(name, data string) tarEntry { return tarEntry{hdr: tar.Header{Name: name}, data: data} }
func dir(name string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}
func symlink(name, target string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
}
func hardlink(name, target string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}}
}

// snapshot describes everything below dir: names, types, modes, link
// counts, owners, contents and link targets.
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s mode=%o nlink=%d uid=%d", strings.TrimPrefix(p, dir), st.Mode, st.Nlink, st.Uid)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, _ := os.ReadFile(p)
			sum := sha256.Sum256(b)
			line += " sha256=" + hex.EncodeToString(sum[:8])
		case unix.S_IFLNK:
			l, _ := os.Readlink(p)
			line += " -> " + l
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestUnpackHostile unpacks archives that try every way out of their tree
// and checks that a directory beside the tree, which each of them aims
// at, is exactly as before.
func TestUnpackHostile(t *testing.T) {
	needRoot(t)
	cases := []struct {
		name    string
		entries func(outside string) []tarEntry
		unsafe  bool // refused as ErrUnsafe
		// fails: refused some other way: what the entry leads to is
		// looked for inside the tree, where it is not (Docker, which
		// unpacks in a chroot, fails the same way).
		fails bool
		// inside is where an absolute entry lands: the outside
		// directory's path below the tree.
		inside string
	}{
		{name: "dot-dot name", unsafe: true, entries: func(string) []tarEntry { return []tarEntry{reg("../outside/pwned", "x")} }},
		{name: "dot-dot inside a name", unsafe: true, entries: func(string) []tarEntry { return []tarEntry{reg("a/../../outside/pwned", "x")} }},
		{name: "absolute name", inside: "pwned", entries: func(o string) []tarEntry { return []tarEntry{reg(o+"/pwned", "x")} }},
		{name: "through an absolute symlink", fails: true, entries: func(o string) []tarEntry {
			return []tarEntry{symlink("link", o), reg("link/pwned", "x")}
		}},
		{name: "through a symlink to the root", inside: "pwned", entries: func(o string) []tarEntry {
			return []tarEntry{symlink("up", "/"), reg("up"+o+"/pwned", "x")}
		}},
		{name: "through a relative symlink climbing out", unsafe: true, entries: func(string) []tarEntry {
			return []tarEntry{symlink("d/rel", "../../outside"), reg("d/rel/pwned", "x")}
		}},
		{name: "through a chain of symlinks", fails: true, entries: func(o string) []tarEntry {
			return []tarEntry{symlink("a", "b"), symlink("b", "/c/.."), symlink("c", o), reg("a/c/pwned", "x")}
		}},
		{name: "file over a symlink", entries: func(o string) []tarEntry {
			return []tarEntry{symlink("s", o+"/marker"), reg("s", "overwritten")}
		}},
		{name: "directory over a symlink", entries: func(o string) []tarEntry {
			return []tarEntry{symlink("s", o), {hdr: tar.Header{Name: "s", Typeflag: tar.TypeDir, Mode: 0o777}}}
		}},
		{name: "whiteout through a symlink", fails: true, entries: func(o string) []tarEntry {
			return []tarEntry{symlink("s", o), reg("s/.wh.marker", "")}
		}},
		{name: "opaque directory through a symlink", fails: true, entries: func(o string) []tarEntry {
			return []tarEntry{symlink("s", o), reg("s/.wh..wh..opq", "")}
		}},
		{name: "hard link climbing out", unsafe: true, entries: func(string) []tarEntry { return []tarEntry{hardlink("h", "../outside/marker")} }},
		{name: "hard link to an absolute path", fails: true, entries: func(o string) []tarEntry { return []tarEntry{hardlink("h", o+"/marker")} }},
		{name: "hard link through a symlink", fails: true, entries: func(o string) []tarEntry {
			return []tarEntry{symlink("l", o), hardlink("h", "l/marker")}
		}},
		{name: "character device", unsafe: true, entries: func(string) []tarEntry {
			return []tarEntry{{hdr: tar.Header{Name: "null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}}
		}},
		{name: "block device", unsafe: true, entries: func(string) []tarEntry {
			return []tarEntry{{hdr: tar.Header{Name: "sda", Typeflag: tar.TypeBlock, Devmajor: 8}}}
		}},
		{name: "overlay attributes", entries: func(string) []tarEntry {
			return []tarEntry{{hdr: tar.Header{Name: "d", Typeflag: tar.TypeDir, Mode: 0o755,
				PAXRecords: map[string]string{"SCHILY.xattr.trusted.overlay.redirect": "/outside", "SCHILY.xattr.trusted.overlay.opaque": "y"}}}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			tree, outside := filepath.Join(base, "tree"), filepath.Join(base, "outside")
			for _, d := range []string{tree, outside} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(outside, "marker"), []byte("marker"), 0o644); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, outside)
			_, err := Unpack(tree, bytes.NewReader(layerTar(t, tc.entries(outside)...)))
			switch {
			case tc.unsafe && !errors.Is(err, ErrUnsafe):
				t.Errorf("unpack: %v, want an ErrUnsafe", err)
			case tc.fails && (err == nil || errors.Is(err, ErrUnsafe)):
				t.Errorf("unpack: %v, want a failure to find the target", err)
			case !tc.unsafe && !tc.fails && err != nil:
				t.Errorf("unpack: %v", err)
			}
			if after := snapshot(t, outside); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("the directory beside the tree changed:\nbefore %q\nafter  %q", before, after)
			}
			if tc.inside != "" {
				if _, err := os.Lstat(filepath.Join(tree, outside, tc.inside)); err != nil {
					t.Errorf("the entry is not inside the tree: %v", err)
				}
			}
			if xs, _ := listXattrs(filepath.Join(tree, "d")); len(xs) > 0 {
				t.Errorf("attributes of the layer's own choosing were set: %v", xs)
			}
		})
	}
}

func listXattrs(p string) ([]string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range strings.Split(string(buf[:n]), "\x00") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// TestUnpackLayer checks what a layer makes: owners, modes, times, links,
// and AUFS whiteouts turned into overlayfs ones.
func TestUnpackLayer(t *testing.T) {
	needRoot(t)
	tree := t.TempDir()
	entries := []tarEntry{
		{hdr: tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}},
		{hdr: tar.Header{Name: "etc/shadow", Mode: 0o640, Gid: 42}, data: "root:*:"},
		{hdr: tar.Header{Name: "usr/bin/su", Mode: 0o4755}, data: "su"},
		hardlink("usr/bin/su2", "usr/bin/su"),
		symlink("bin", "usr/bin"),
		{hdr: tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}},
		{hdr: tar.Header{Name: "run/fifo", Typeflag: tar.TypeFifo, Mode: 0o600}},
		reg("var/.wh.cache", ""),
		reg("opt/.wh..wh..opq", ""),
		reg(".wh..wh.plnk/123", "aufs bookkeeping"),
		{hdr: tar.Header{Name: "usr/bin/ping", Mode: 0o755, PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}}, data: "ping"},
	}
	size, err := Unpack(tree, bytes.NewReader(layerTar(t, entries...)))
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len("root:*:") + len("su") + len("aufs bookkeeping") + len("ping")); size != want {
		t.Errorf("size %d, want %d (the tar headers' sizes)", size, want)
	}
	check := func(rel string, mode uint32, uid, gid uint32) {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(tree, rel), &st); err != nil {
			t.Error(err)
			return
		}
		if st.Mode != mode || st.Uid != uid || st.Gid != gid {
			t.Errorf("%s: mode %o uid %d gid %d, want %o %d %d", rel, st.Mode, st.Uid, st.Gid, mode, uid, gid)
		}
	}
	check("etc/shadow", unix.S_IFREG|0o640, 0, 42)
	check("usr/bin/su", unix.S_IFREG|0o4755, 0, 0)
	check("tmp", unix.S_IFDIR|0o1777, 0, 0)
	check("run/fifo", unix.S_IFIFO|0o600, 0, 0)
	check("var/cache", unix.S_IFCHR, 0, 0)
	check("usr", unix.S_IFDIR|0o755, 0, 0) // implied by usr/bin/su
	var a, b unix.Stat_t
	unix.Lstat(filepath.Join(tree, "usr/bin/su"), &a)
	unix.Lstat(filepath.Join(tree, "usr/bin/su2"), &b)
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("hard link: inodes %d %d, nlink %d", a.Ino, b.Ino, a.Nlink)
	}
	if l, _ := os.Readlink(filepath.Join(tree, "bin")); l != "usr/bin" {
		t.Errorf("bin -> %q", l)
	}
	if st, _ := os.Stat(filepath.Join(tree, "var/cache")); st != nil {
		var s unix.Stat_t
		unix.Lstat(filepath.Join(tree, "var/cache"), &s)
		if s.Rdev != 0 {
			t.Errorf("whiteout device %d, want 0:0", s.Rdev)
		}
	}
	buf := make([]byte, 8)
	if n, err := unix.Lgetxattr(filepath.Join(tree, "opt"), overlayOpaque, buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opt: %s = %q, %v", overlayOpaque, buf[:max(n, 0)], err)
	}
	for _, p := range []string{"opt/.wh..wh..opq", "var/.wh.cache", ".wh..wh.plnk"} {
		if _, err := os.Lstat(filepath.Join(tree, p)); err == nil {
			t.Errorf("%s was written as a file", p)
		}
	}
	if n, err := unix.Lgetxattr(filepath.Join(tree, "usr/bin/ping"), "security.capability", make([]byte, 64)); err != nil || n != 20 {
		t.Errorf("ping's capability: %d bytes, %v", n, err)
	}
}
