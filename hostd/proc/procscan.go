package proc

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
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
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if got, err := NSInode(pid, "pid"); err == nil && got == ino {
			pids = append(pids, pid)
		}
	}
	return pids
}
