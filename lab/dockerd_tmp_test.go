package lab

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/netns"
)

// requireDockerdTempDir checks that the host's containerd writes its
// temporary files into the host's state directory, which down removes,
// and not into the machine's /tmp: it sends the SIGUSR1 that makes
// containerd dump its stacks, and finds the dump where TMPDIR points.
func requireDockerdTempDir(t *testing.T, h *Host) {
	t.Helper()
	// The host's containerd runs in the host's namespaces.
	pid := 0
	ino, _ := netns.Inode(h.NetNS())
	for _, p := range scanInside(map[uint64]string{ino: h.NetNS()}) {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.pid)); string(bytes.TrimSpace(comm)) == "containerd" {
			pid = p.pid
		}
	}
	if pid == 0 {
		t.Errorf("host %s: no containerd of its dockerd found", h.Name)
		return
	}
	env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if !slices.Contains(strings.Split(string(env), "\x00"), "TMPDIR="+h.dir) {
		t.Errorf("host %s: containerd's environment has no TMPDIR=%s:\n%s", h.Name, h.dir, bytes.ReplaceAll(env, []byte{0}, []byte{'\n'}))
	}
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	dump := fmt.Sprintf("containerd.%d.stacks.log", pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(h.dir, dump)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("host %s: containerd wrote no %s in %s after SIGUSR1", h.Name, dump, h.dir)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join("/tmp", dump)); err == nil {
		t.Errorf("host %s: containerd wrote /tmp/%s", h.Name, dump)
	}
}
