package lab

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// visitorEnv makes the test binary a visitor (visitor).
const visitorEnv = "NSLAB_LAB_TEST_VISITOR"

// visitor is a process of the machine whose main thread alone is in a
// network namespace of its own, as a Go program's thread is while it
// probes a lab: it says "ready" once there and exits when its stdin
// closes.
func visitor() int {
	runtime.LockOSThread()
	stay := make(chan struct{})
	go func() {
		// A thread that stays in the machine's namespace whatever the
		// runtime has made so far.
		runtime.LockOSThread()
		close(stay)
		select {}
	}()
	<-stay
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
}

// A process whose main thread visits a lab's namespace while another of
// its threads stays in the machine's is not the lab's to kill; a process
// that lives there is. On this machine PID 1's namespaces cannot be read,
// which once made every visitor look like a resident.
func TestInsideSparesVisitors(t *testing.T) {
	requireRoot(t)
	v := exec.Command(os.Args[0])
	v.Env = append(os.Environ(), visitorEnv+"=1")
	in, err := v.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := v.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); v.Wait() }()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("visitor: %q, %v", line, err)
	}
	visited := "/proc/" + strconv.Itoa(v.Process.Pid) + "/ns/net"
	ino, err := netns.Inode(visited)
	if err != nil {
		t.Fatal(err)
	}
	ns := map[uint64]string{ino: "the visited namespace"}
	if _, ok := inside(v.Process.Pid, ns); ok {
		t.Errorf("the visitor (pid %d) counts as living in the namespace its main thread visits", v.Process.Pid)
	}

	r := exec.Command("nsenter", "--net="+visited, "sleep", "60")
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { r.Process.Kill(); r.Wait() }()
	self := "/proc/" + strconv.Itoa(r.Process.Pid) + "/ns/net"
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if got, err := netns.Inode(self); err == nil && got == ino {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nsenter did not enter the namespace in 5 s")
		}
	}
	if _, ok := inside(r.Process.Pid, ns); !ok {
		t.Errorf("a process living in the namespace (pid %d) does not count as inside", r.Process.Pid)
	}
}
