package mount

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// Template is the mount namespace every container's init starts in
// (its own is a copy) and every private view of a stopped container's
// files is made from: a private copy of the machine's mount table (so
// that nothing mounted in a copy propagates back) without any namespace
// pin (a pin held by a copy would keep another container's network
// namespace alive). The init mounts the container's root filesystem and
// pivots into it, detaching the copy of the machine's tree. The template is
// made once, when hostd starts; pins made later in the machine's table
// never reach it, so the copy stays small.
type Template struct {
	fd int // the namespace, held open
}

// NewTemplate makes the template on a throwaway thread and keeps it
// by a file descriptor.
func NewTemplate() (*Template, error) {
	fd := -1
	err := netns.OnThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("unshare mount namespace: %w", err)
		}
		// The copy's shared mounts are still peers of the machine's:
		// make everything private first.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make / rprivate: %w", err)
		}
		if err := detachNamespacePins("/proc/thread-self/mountinfo"); err != nil {
			return fmt.Errorf("detach namespace pins: %w", err)
		}
		var err error
		fd, err = unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("mount template: %w", err)
	}
	return &Template{fd: fd}, nil
}

func (t *Template) Close() {
	if t.fd >= 0 {
		unix.Close(t.fd)
		t.fd = -1
	}
}

// Join puts the calling thread, which must be a throwaway locked one
// (netns.OnThread), into the template: a process it forks with
// CLONE_NEWNS gets a copy.
func (t *Template) Join() error {
	// Joining a mount namespace needs an fs_struct of the thread's own;
	// Go's threads share the process's.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs: %w", err)
	}
	if err := unix.Setns(t.fd, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("enter mount template: %w", err)
	}
	return nil
}

// Enter puts the calling thread, a throwaway locked one, into a fresh
// copy of the template of its own, where it may mount what it likes.
func (t *Template) Enter() error {
	if err := t.Join(); err != nil {
		return err
	}
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare mount namespace: %w", err)
	}
	return nil
}

// detachNamespacePins lazily unmounts every namespace pin of the mount
// namespace whose mountinfo is given: everything under /run/netns and any
// other nsfs mount (a dockerd's exec-root/netns, say). Deepest first, so
// parents go last.
func detachNamespacePins(mountinfo string) error {
	f, err := os.Open(mountinfo)
	if err != nil {
		return err
	}
	defer f.Close()
	var targets []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// mountinfo: id parent major:minor root mountpoint opts ... - fstype source superopts
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		fstype := ""
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) {
				fstype = fields[i+1]
				break
			}
		}
		if strings.HasPrefix(mp, "/run/netns/") || fstype == "nsfs" {
			targets = append(targets, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	sort.Slice(targets, func(i, j int) bool { return len(targets[i]) > len(targets[j]) })
	for _, t := range targets {
		if err := unix.Unmount(t, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	return nil
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
