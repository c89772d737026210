package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// proc names a process across pid reuse: pid plus start time.
type proc struct {
	pid   int
	start uint64
}

// findProc returns the live (not zombie) process pid.
func findProc(pid int) (proc, bool) {
	if pid <= 0 {
		return proc{}, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return proc{}, false
	}
	// The command name (field 2) may hold spaces and parentheses, so the
	// fields are counted from the last ')': state is field 3, start time
	// field 22.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return proc{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return proc{}, false
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return proc{}, false
	}
	return proc{pid: pid, start: start}, true
}

func (p proc) alive() bool {
	q, ok := findProc(p.pid)
	return ok && q.start == p.start
}

// isUp reports whether p is an `nslab up` (foreground or keeper): a process
// `nslab down` may ask to take its lab down. Any other owner (a test
// binary using package lab, say) is never signalled.
func (p proc) isUp() bool {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(p.pid) + "/exe")
	if err != nil {
		return false
	}
	// A binary rebuilt while it runs shows as "path (deleted)".
	if filepath.Base(strings.TrimSuffix(exe, " (deleted)")) != "nslab" {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/cmdline")
	if err != nil {
		return false
	}
	for _, arg := range bytes.Split(b, []byte{0})[1:] {
		if string(arg) == "up" {
			return true
		}
	}
	return false
}

func (p proc) cmdline() string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/cmdline")
	return strings.TrimSpace(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
}
