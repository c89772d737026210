package kernel_test

import (
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// NSInode is the namespace the kernel links at /proc/PID/ns/KIND: a child
// shares each of the caller's.
func TestNSInode(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	for _, kind := range []string{"net", "mnt", "pid", "uts"} {
		want, err := netns.Inode("/proc/self/ns/" + kind)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := kernel.NSInode(child.Process.Pid, kind); err != nil || got != want {
			t.Errorf("NSInode(child, %s) = %d, %v; want %d, the caller's", kind, got, err, want)
		}
	}
	if _, err := kernel.NSInode(1<<30, "net"); err == nil {
		t.Error("NSInode of a pid that cannot exist: no error")
	}
}

// StartTime tells a live process (started no earlier than its parent)
// from a zombie and from a pid no process has.
func TestStartTime(t *testing.T) {
	self, ok := kernel.StartTime(os.Getpid())
	if !ok || self == 0 {
		t.Fatalf("StartTime(the caller) = %d, %v", self, ok)
	}
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	pid := child.Process.Pid
	if start, ok := kernel.StartTime(pid); !ok || start < self {
		t.Errorf("StartTime(running child) = %d, %v; want at least %d", start, ok, self)
	}
	child.Process.Kill()
	var info unix.Siginfo
	// Wait for the exit without reaping: the child stays a zombie.
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if start, ok := kernel.StartTime(pid); ok {
		t.Errorf("StartTime(zombie) = %d, true", start)
	}
	child.Wait()
	for _, pid := range []int{pid, 0, -1, 1 << 30} {
		if start, ok := kernel.StartTime(pid); ok {
			t.Errorf("StartTime(%d), no such process = %d, true", pid, start)
		}
	}
}
