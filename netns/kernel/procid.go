package kernel

import (
	"fmt"
	"os"
	"strconv"
	"strings"

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
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields are counted from the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (the state), so field 22 is f[19].
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, false
	}
	return start, true
}
