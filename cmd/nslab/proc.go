package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nslab/nslab/netns/kernel"
)

// proc names a process across pid reuse: pid plus start time.
type proc struct {
	pid   int
	start uint64
}

// findProc returns the live (not zombie) process pid.
func findProc(pid int) (proc, bool) {
	start, ok := kernel.StartTime(pid)
	if !ok {
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
