package netns

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPinFilesAreLinks: pins made one after another through one Pins are
// names of one file, each still holding its own namespace; removing names,
// the first included, leaves the others and the next pin working; and when
// every name is gone, the next pin file is created anew.
func TestPinFilesAreLinks(t *testing.T) {
	needRoot(t)
	p := &Pins{files: &pinFiles{held: -1}}
	prefix := fmt.Sprintf("nspinlink%d-", os.Getpid())
	var paths []string
	var inodes []uint64
	defer func() {
		for _, path := range paths {
			Delete(path)
		}
	}()
	pinFresh := func(i int) string {
		t.Helper()
		var path string
		err := DoFresh(func() error {
			fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			path, err = p.PinFD(fd, fmt.Sprintf("%s%d", prefix, i))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
		ino, err := Inode(path)
		if err != nil {
			t.Fatal(err)
		}
		inodes = append(inodes, ino)
		return path
	}
	for i := range 3 {
		pinFresh(i)
	}
	if inodes[0] == inodes[1] || inodes[1] == inodes[2] || inodes[0] == inodes[2] {
		t.Fatalf("pins share a namespace: %v", inodes)
	}
	var held unix.Stat_t
	if err := unix.Fstat(p.files.held, &held); err != nil || held.Nlink != 3 {
		t.Fatalf("the held pin file has %d names (%v), want 3", held.Nlink, err)
	}
	if _, err := p.PinFD(0, prefix+"1"); !errors.Is(err, os.ErrExist) {
		t.Errorf("a pin over an existing one: %v, want ErrExist", err)
	}
	// The first name goes; the next pin is still a link.
	if err := Delete(paths[0]); err != nil {
		t.Fatal(err)
	}
	pinFresh(3)
	if err := unix.Fstat(p.files.held, &held); err != nil || held.Nlink != 3 {
		t.Fatalf("after the first unpin and one more pin: %d names (%v), want 3", held.Nlink, err)
	}
	if ino, err := Inode(paths[1]); err != nil || ino != inodes[1] {
		t.Errorf("pin 1 after pin 0 went: %d %v, want %d", ino, err, inodes[1])
	}
	// Every name goes: the next pin file is made anew.
	for _, path := range paths[1:] {
		if err := Delete(path); err != nil {
			t.Fatal(err)
		}
	}
	pinFresh(4)
	if err := unix.Fstat(p.files.held, &held); err != nil || held.Nlink != 1 {
		t.Fatalf("after every name went: %d names (%v), want a new file", held.Nlink, err)
	}
}
