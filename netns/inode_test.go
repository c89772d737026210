package netns

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Inode reads a /proc namespace link's target, and stats anything else:
// both give the inode a stat of the path gives.
func TestInodeAsStat(t *testing.T) {
	for _, path := range []string{
		"/proc/self/ns/net", "/proc/self/ns/uts", "/proc/self/ns/mnt", "/proc/thread-self/ns/net",
		"/proc/self/exe", // a link, but to no namespace
		"/proc/self/stat",
	} {
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		got, err := Inode(path)
		if err != nil || got != st.Ino {
			t.Errorf("Inode(%s) = %d, %v; stat says %d", path, got, err, st.Ino)
		}
	}
	if _, err := Inode("/proc/self/ns/no-such-kind"); err == nil {
		t.Error("Inode of a missing /proc path: no error")
	}
}
