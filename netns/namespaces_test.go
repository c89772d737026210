package netns

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A virtual host's namespaces, made by NewHost and pinned on a private
// mount: a process started there, and a function run there, see its
// hostname and its own mounts; the caller sees neither.
func TestNewHostNamespaces(t *testing.T) {
	name, net := newTestNS(t, "h")
	dir := filepath.Join(t.TempDir(), "ns")
	if err := MountPrivateTmpfs(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	uts, mnt := filepath.Join(dir, "h.uts"), filepath.Join(dir, "h.mnt")
	ns, err := NewHost(Namespaces{Net: net}, uts, mnt, func() error {
		if err := unix.Sethostname([]byte("vhost1")); err != nil {
			return err
		}
		// The host's own /run/netns: the copies of the machine's pins
		// detached, a tmpfs in their place, as the lab's hosts have it.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return err
		}
		if err := unix.Unmount(RunDir, unix.MNT_DETACH); err != nil {
			return err
		}
		return unix.Mount("tmpfs", RunDir, "tmpfs", 0, "size=16k")
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Delete(mnt); Delete(uts) })

	out, err := exec.Command("nsenter", "--net="+ns.Net, "--uts="+ns.UTS, "--mount="+ns.Mnt, "--", "sh", "-c", "hostname; ls "+RunDir).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "vhost1" {
		t.Fatalf("nsenter into the host: %q %v; want its hostname and an empty %s", out, err, RunDir)
	}
	cmd := exec.Command("cat", "/proc/self/mountinfo")
	var mi strings.Builder
	cmd.Stdout = &mi
	if err := ns.Start(cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil || !strings.Contains(mi.String(), " "+RunDir+" ") || strings.Contains(mi.String(), name) {
		t.Fatalf("a process started in the host sees no tmpfs on %s or the machine's pins: %v\n%s", RunDir, err, mi.String())
	}
	if self, _ := Inode("/proc/self/ns/mnt"); self == mustInode(t, mnt) {
		t.Fatal("the caller is in the host's mount namespace")
	}

	// Pins made in the host's mount namespace appear there only.
	f, err := os.Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pins := NewPins(f)
	pin, err := pins.Pin(net, "inside")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(Path("inside")); !os.IsNotExist(err) {
		t.Fatalf("a pin made in the host's mount namespace is on the machine: %v", err)
	}
	var seen uint64
	if err := ns.Do(func() (err error) { seen, err = Inode(pin); return err }); err != nil || seen != mustInode(t, net) {
		t.Fatalf("the pin inside the host: inode %d, %v; want the network namespace's", seen, err)
	}
	if err := pins.Delete("inside"); err != nil {
		t.Fatal(err)
	}
	if err := ns.Do(func() error { _, err := os.Stat(pin); return err }); !os.IsNotExist(err) {
		t.Fatalf("the pin inside the host after Delete: %v", err)
	}
}

func mustInode(t *testing.T, path string) uint64 {
	t.Helper()
	ino, err := Inode(path)
	if err != nil {
		t.Fatal(err)
	}
	return ino
}
