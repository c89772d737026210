package hostd

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// nsInode returns the inode of /proc/PID/ns/KIND ("mnt", "net", "uts").
func nsInode(pid int, kind string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, kind), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// pidsInMountNS lists the processes whose mount namespace is ino. Every
// process of a container shares its mount namespace (its command, whatever
// the command forks, and every `docker exec`, which nsenter puts there), so
// this is the container's process set, the way a PID namespace would be.
func pidsInMountNS(ino uint64) []int {
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
		if got, err := nsInode(pid, "mnt"); err == nil && got == ino {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killMountNS SIGKILLs every process of the mount namespace until none is
// left (or a few seconds have passed), as the kernel does to a PID
// namespace whose init dies. Killed processes that are hostd's children or
// orphans are reaped by the reaper.
func killMountNS(ino uint64) []int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := pidsInMountNS(ino)
		if len(pids) == 0 || time.Now().After(deadline) {
			return pids
		}
		for _, pid := range pids {
			unix.Kill(pid, unix.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
