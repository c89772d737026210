package kernel_test

import (
	"os"
	"os/exec"
	"slices"
	"testing"

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
