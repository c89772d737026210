package kernel

import (
	"fmt"
	"os"
	"strconv"

	"github.com/nslab/nslab/netns"
)

// PIDs lists the processes /proc shows, the caller among them, that keep
// takes (nil: every one). A process may exit while keep looks at it: keep
// treats what it cannot read as not taken.
func PIDs(keep func(pid int) bool) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if keep == nil || keep(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// NSInode returns the inode of process pid's namespace of kind ("net",
// "mnt", "pid", "uts"): two processes share a namespace when the inodes
// are equal.
func NSInode(pid int, kind string) (uint64, error) {
	return netns.Inode(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
}
