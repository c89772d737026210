package kernel

import (
	"fmt"

	"github.com/nslab/nslab/netns"
)

// NSInode returns the inode of process pid's namespace of kind ("net",
// "mnt", "pid", "uts"): two processes share a namespace when the inodes
// are equal.
func NSInode(pid int, kind string) (uint64, error) {
	return netns.Inode(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
}

// StartTime returns when process pid started, in clock ticks since boot
// (field 22 of /proc/PID/stat), and whether it exists and has not exited: a
// zombie, or a pid no process has, is false. The pid and its start time
// name one process even after the pid is reused.
func StartTime(pid int) (uint64, bool) {
	if pid <= 0 {
		return 0, false
	}
	st, err := ReadProcessStat(pid)
	if err != nil || st.State == 'Z' || st.State == 'X' {
		return 0, false
	}
	return st.Start, true
}
