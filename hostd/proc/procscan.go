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
	all, err := kernel.Processes()
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, pid := range all {
		if got, err := NSInode(pid, "pid"); pid != self && err == nil && got == ino {
			pids = append(pids, pid)
		}
	}
	return pids
}
