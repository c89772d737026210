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
	// Comm is the command's name (field 2, without its parentheses).
	Comm string
	// State is R (running), S (sleeping), D (in an uninterruptible
	// wait), T (stopped), Z (a zombie: exited, not reaped yet)...
	State byte
	// PPID is the parent's pid.
	PPID int
	// Session is the process's session id: the pid of the session's
	// leader (a terminal's shell), whose processes a hang-up reaches.
	Session int
	// Start is when the process started, in clock ticks since boot
	// (field 22): with the pid, it names one process even after the pid
	// is reused.
	Start uint64
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
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return ProcessStat{}, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	// f[0] is field 3 (state), then ppid, pgrp, session, ... field 22 is f[19].
	f := strings.Fields(s[end+1:])
	if len(f) < 20 || len(f[0]) != 1 {
		return ProcessStat{}, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	st := ProcessStat{Comm: s[open+1 : end], State: f[0][0]}
	if st.PPID, err = strconv.Atoi(f[1]); err == nil {
		if st.Session, err = strconv.Atoi(f[3]); err == nil {
			st.Start, err = strconv.ParseUint(f[19], 10, 64)
		}
	}
	if err != nil {
		return ProcessStat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return st, nil
}
