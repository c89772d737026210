// Package rootfstest builds, for tests, the one-layer tree the default
// busybox image unpacks to: Debian's busybox-static with its applets as
// symlinks, /etc/passwd and /etc/group with root and nobody, /root and
// /tmp. Test scaffolding: hostd's images come from its image store.
package rootfstest

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Busybox is the machine's busybox-static.
const Busybox = "/bin/busybox"

// Files of the layer beside busybox and its applets.
var files = map[string]string{
	"etc/passwd":     "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nuser:x:1000:1000:user:/home/user:/bin/sh\n",
	"etc/group":      "root:x:0:root\nwheel:x:10:root,user\nnobody:x:65534:\nuser:x:1000:\n",
	"etc/os-release": "NAME=\"nslab test busybox\"\n",
}

// Marker makes a directory of the test's own on the machine, outside any
// image, and returns its path: a container that sees the machine's files
// would see it, and one that could remove them would. It is removed when
// the test ends.
func Marker(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nslab-rootfs-marker-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Layer builds the tree under a directory of t's and returns its path. It
// skips the test, saying why, when busybox-static is not installed.
func Layer(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(Busybox); err != nil {
		t.Skipf("busybox-static is not installed (%v): no image tree to run", err)
	}
	dir := filepath.Join(t.TempDir(), "layer")
	if err := Build(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Build makes the tree at dir.
func Build(dir string) error {
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{"bin", 0o755}, {"etc", 0o755}, {"root", 0o700}, {"tmp", 0o1777}, {"home/user", 0o755}, {"usr/bin", 0o755}, {"sbin", 0o755}, {"usr/sbin", 0o755}} {
		p := filepath.Join(dir, d.name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(p, d.mode); err != nil {
			return err
		}
	}
	if err := os.Chown(filepath.Join(dir, "home/user"), 1000, 1000); err != nil {
		return err
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	if err := copyFile(Busybox, filepath.Join(dir, "bin/busybox")); err != nil {
		return err
	}
	// The applets' places, as `busybox --install -s` puts them: run on
	// the machine, outside any container, to build the tree.
	out, err := exec.Command(Busybox, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("busybox --list-full: %w", err)
	}
	for _, a := range strings.Fields(string(out)) {
		if a == "bin/busybox" {
			continue
		}
		// Absolute, as busybox makes them: inside a container they must
		// resolve in its root, never on the machine.
		if err := os.Symlink("/bin/busybox", filepath.Join(dir, a)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
