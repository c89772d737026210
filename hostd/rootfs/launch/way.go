package launch

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostd/rootfs"
)

// Way is how Start starts a container's command.
type Way int

const (
	// Detect is the way Detected says.
	Detect Way = iota
	// FromThread builds the root from the thread that entered the
	// container's namespaces and forks the command: no process before it.
	// It needs Linux 6.15 (proc's pidns option; pidfd calls of 6.9 and
	// 6.11).
	FromThread
	// FromInit forks hostd's binary, re-executed as the container's init
	// (package rootfs), which builds the root and executes the command:
	// any kernel hostd runs on, a fork, an exec and Go's runtime start
	// more per container.
	FromInit
)

func (w Way) String() string {
	switch w {
	case FromThread:
		return "from a thread"
	case FromInit:
		return "from an init process"
	}
	return "detected"
}

// starter is one way of starting the command from the thread that
// entered the container's namespaces (enter).
type starter interface {
	start(c Container, o Options) (*exec.Cmd, error)
}

var starters = map[Way]starter{FromThread: fromThread{}, FromInit: fromInit{}}

// WayEnv forces a way: "thread" or "init"; empty: the kernel decides.
const WayEnv = "NSLAB_HOSTD_CONTAINER_START"

// Detected is the way this process starts containers and why, decided
// once: WayEnv's, else FromThread where the kernel has what it needs,
// else FromInit. An unknown WayEnv is an error.
func Detected() (Way, string, error) {
	d := detected()
	return d.way, d.why, d.err
}

var detected = sync.OnceValue(func() (d struct {
	way Way
	why string
	err error
}) {
	d.way, d.why, d.err = detect()
	return d
})

func detect() (Way, string, error) {
	switch v := os.Getenv(WayEnv); v {
	case "init":
		return FromInit, WayEnv + "=init", nil
	case "thread":
		return FromThread, WayEnv + "=thread", nil
	case "":
	default:
		return Detect, "", fmt.Errorf("%s=%q: neither thread nor init", WayEnv, v)
	}
	if err := ThreadSupport(); err != nil {
		return FromInit, "the kernel lacks " + err.Error(), nil
	}
	return FromThread, "the kernel has proc's pidns option and the pidfd calls it needs", nil
}

// ThreadSupport says whether the kernel has what FromThread needs: a
// thread's pidfd, the namespace its children are born in, and proc's
// pidns option, each tried on hostd's own (nothing is mounted).
func ThreadSupport() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pidns, err := childPIDNamespace()
	if err != nil {
		return fmt.Errorf("pidfd_open's PIDFD_THREAD (6.9) or PIDFD_GET_PID_FOR_CHILDREN_NAMESPACE (6.11): %w", err)
	}
	defer unix.Close(pidns)
	if err := rootfs.CheckProcPidns(pidns); err != nil {
		return fmt.Errorf("proc's pidns option (6.15): %w", err)
	}
	return nil
}
