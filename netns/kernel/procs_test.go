package kernel_test

import (
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns/kernel"
)

// The caller is one of the machine's processes, alive, in its own
// session; a child started in a new session leads it, and once it exited
// and is not reaped yet it is a zombie.
func TestProcesses(t *testing.T) {
	pids, err := kernel.Processes()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pids, os.Getpid()) {
		t.Fatalf("Processes lacks the caller %d: %v", os.Getpid(), pids)
	}
	st, err := kernel.ReadProcessStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	sid, _ := unix.Getsid(0)
	if st.State == 'Z' || st.State == 'X' || st.Session != sid {
		t.Errorf("own stat: %c, session %d; want alive, session %d", st.State, st.Session, sid)
	}

	cmd := exec.Command("true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	pid := cmd.Process.Pid
	var info unix.Siginfo
	// Wait for the exit without reaping: the child stays a zombie.
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	st, err = kernel.ReadProcessStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != 'Z' || st.Session != pid {
		t.Errorf("exited child: %c, session %d; want Z, session %d", st.State, st.Session, pid)
	}
}
