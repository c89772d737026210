package hostd_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/netns/kernel"
)

// pidsIn lists the processes in the given mount namespaces.
func pidsIn(ns map[uint64]bool) []int {
	all, _ := kernel.Processes()
	var out []int
	for _, pid := range all {
		if ino, err := kernel.NSInode(pid, "mnt"); err == nil && ns[ino] {
			out = append(out, pid)
		}
	}
	return out
}

// SIGTERM to hostd removes every container: no process, pin, mount, file.
func TestShutdownLeavesNothing(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	h.mustDocker("run", "-itd", "--name", "cm08", "--network", "none", "alpine")
	h.mustDocker("run", "-itd", "--name", "cm09", "--network", "container:cm08", "alpine")
	h.mustDocker("run", "-d", "--name", "hm", "--network", "host", "alpine", "sleep", "1000")
	// A command that leaves an orphan behind, and a detached exec.
	h.mustDocker("run", "-d", "--name", "orphans", "--network", "none", "alpine", "sh", "-c", "sleep 1001 & sleep 1002; true")
	h.mustDocker("exec", "-d", "cm08", "sleep", "1003")
	h.mustDocker("create", "--name", "created", "--network", "none", "alpine")

	// The namespaces stay open until the end: a freed namespace's inode
	// number goes to the next new one, which another test may make.
	namespaces := map[uint64]bool{}
	for _, name := range []string{"cm08", "cm09", "hm", "orphans"} {
		pid := int(field(h.inspectJSON(name), "State", "Pid").(float64))
		f, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ino, err := kernel.NSInode(pid, "mnt")
		if err != nil {
			t.Fatal(err)
		}
		namespaces[ino] = true
	}
	var pids []int
	eventually(t, 5*time.Second, func() error {
		pids = pidsIn(namespaces)
		if len(pids) < 7 {
			return fmt.Errorf("%d container processes, want 7 (4 commands, 2 sleeps, 1 exec)", len(pids))
		}
		return nil
	})
	// Four pins, each a mount.
	if left := h.leftovers(); len(left) != 8 {
		t.Fatalf("pins before shutdown: %v", left)
	}
	start := time.Now()
	if err := h.terminate(); err != nil {
		t.Fatalf("hostd after SIGTERM: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if left := h.leftovers(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	for _, pid := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			t.Errorf("process %d survived (or is a zombie): %s", pid, strings.SplitN(string(b), "\n", 3)[:2])
		}
	}
	if left := pidsIn(namespaces); len(left) > 0 {
		t.Errorf("processes in container namespaces: %v", left)
	}
	for _, f := range []string{h.cfg.Socket, filepath.Join(h.cfg.Root, "hostd.pid"), filepath.Join(h.cfg.Root, "containers"), filepath.Join(h.cfg.Root, "data", "containers")} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", f, err)
		}
	}
}
