package kernel

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Processes lists the machine's processes by pid: the numbered
// directories of /proc, the caller's own included. A process may end
// before the caller reads more of it: a file of /proc/PID gone is a
// process gone.
func Processes() ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("processes: %w", err)
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// ProcessStat is what /proc/PID/stat says of a process that the lab asks.
type ProcessStat struct {
	// State is R (running), S (sleeping), D (in an uninterruptible
	// wait), T (stopped), Z (a zombie: exited, not reaped yet)...
	State byte
	// Session is the process's session id: the pid of the session's
	// leader (a terminal's shell), whose processes a hang-up reaches.
	Session int
}

// ReadProcessStat reads the process's /proc/PID/stat. The fields follow
// the command's name in parentheses, which may itself hold spaces and
// parentheses: they start after the last ')'.
func ReadProcessStat(pid int) (ProcessStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcessStat{}, err
	}
	s := string(b)
	// state ppid pgrp session ...
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 4 || len(f[0]) != 1 {
		return ProcessStat{}, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	sid, err := strconv.Atoi(f[3])
	if err != nil {
		return ProcessStat{}, fmt.Errorf("/proc/%d/stat: session: %w", pid, err)
	}
	return ProcessStat{State: f[0][0], Session: sid}, nil
}
