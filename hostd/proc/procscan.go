package proc

import (
	"os"

	"github.com/nslab/nslab/netns/kernel"
)

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
		if got, err := kernel.NSInode(pid, "pid"); pid != self && err == nil && got == ino {
			pids = append(pids, pid)
		}
	}
	return pids
}
