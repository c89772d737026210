package kernel_test

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// PIDs lists the live processes /proc shows, this one and a child among
// them, and only those keep takes; NSInode is the namespace the kernel
// links at /proc/PID/ns/KIND.
func TestPIDs(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	self, kid := os.Getpid(), child.Process.Pid
	if all := kernel.PIDs(nil); !slices.Contains(all, self) || !slices.Contains(all, kid) || !slices.Contains(all, 1) {
		t.Errorf("PIDs(nil) lacks 1, this process %d or its child %d: %d processes", self, kid, len(all))
	}
	if got := kernel.PIDs(func(pid int) bool { return pid == kid }); !slices.Equal(got, []int{kid}) {
		t.Errorf("PIDs(the child only) = %v, want [%d]", got, kid)
	}
	for _, kind := range []string{"net", "mnt", "pid", "uts"} {
		want, err := netns.Inode("/proc/self/ns/" + kind)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := kernel.NSInode(kid, kind); err != nil || got != want {
			t.Errorf("NSInode(child, %s) = %d, %v; want %d, this process's", kind, got, err, want)
		}
	}
	if _, err := kernel.NSInode(1<<30, "net"); err == nil {
		t.Error("NSInode of a pid that cannot exist: no error")
	}
}

// StartTime tells a live process (the start time a later process cannot
// have had earlier) from a zombie and from a pid no process has.
func TestStartTime(t *testing.T) {
	self, ok := kernel.StartTime(os.Getpid())
	if !ok || self == 0 {
		t.Fatalf("StartTime(this process) = %d, %v", self, ok)
	}
	child := exec.Command("true")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	pid := child.Process.Pid
	// Until it is waited for, the exited child is a zombie.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), ") Z ") {
			break
		}
		if start, ok := kernel.StartTime(pid); !ok || start < self {
			t.Fatalf("StartTime(running child) = %d, %v; want at least %d", start, ok, self)
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d never became a zombie: %s", pid, b)
		}
		time.Sleep(time.Millisecond)
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
