package proc

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns/kernel"
)

// NSInode returns the inode of /proc/PID/ns/KIND ("pid", "net", "uts").
func NSInode(pid int, kind string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, kind), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// PIDsInPIDNS lists, by their pids on the host, the processes of the PID
// namespace ino: a container's processes (its command, what that forks,
// every exec).
func PIDsInPIDNS(ino uint64) []int {
	self := os.Getpid()
	return kernel.PIDs(func(pid int) bool {
		got, err := NSInode(pid, "pid")
		return pid != self && err == nil && got == ino
	})
}
