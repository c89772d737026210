package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
	"github.com/nslab/nslab/netns/nstest"
)

// Helpers of the tests that run the built nslab binary as root.

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: nslab creates network namespaces")
	}
}

// nslabPrograms are this command, nslab-hostd and nslab-etcd, built once
// per test binary into a directory of their own (make build's bin/ under
// make test), the daemons next to nslab where the lab looks for them: the
// tests run the binaries a user runs, nslab named as `nslab down` expects
// its owners.
var nslabPrograms = nstest.Programs{
	Packages:   []string{"github.com/nslab/nslab/cmd/nslab", "github.com/nslab/nslab/cmd/nslab-hostd", "github.com/nslab/nslab/cmd/nslab-etcd"},
	DirPattern: "nslab-cmd-test-bin-",
	Static:     true,
}

// buildNslab returns the nslab the tests run (nslabPrograms).
func buildNslab(t *testing.T) string {
	t.Helper()
	return nslabPrograms.Path(t, "nslab")
}

// labID returns a fresh lab id with the given prefix.
func labID(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

type result struct {
	stdout, stderr string
	code           int
}

// nslab runs the binary with stdin from /dev/null, as in CI.
func nslab(t *testing.T, bin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("nslab %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("nslab %s: status %d\n%s%s", strings.Join(args, " "), r.code, clip(r.stdout), clip(r.stderr))
	return r
}

// mustNslab runs the binary and fails the test unless it succeeds.
func mustNslab(t *testing.T, bin string, args ...string) result {
	t.Helper()
	r := nslab(t, bin, args...)
	if r.code != 0 {
		t.Fatalf("nslab %s: status %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

func pins(id string) []string {
	p, _ := filepath.Glob("/run/netns/" + id + "-*")
	return p
}

// procsIn lists the processes (pid and start time, so a reused pid is not
// mistaken for one of them) whose network namespace is one of the lab's
// pinned namespaces.
func procsIn(id string) []proc {
	inodes := map[uint64]bool{}
	for _, p := range pins(id) {
		if ino, err := netns.Inode(p); err == nil {
			inodes[ino] = true
		}
	}
	pids, _ := kernel.Processes()
	var out []proc
	for _, pid := range pids {
		if ino, err := kernel.NSInode(pid, "net"); err != nil || !inodes[ino] {
			continue
		}
		if p, ok := findProc(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

// assertGone checks that nothing of lab id is left: no namespace pin, no
// mount of one, no state directory, none of the processes seen in it.
func assertGone(t *testing.T, root, id string, seen []proc) {
	t.Helper()
	if p := pins(id); len(p) > 0 {
		t.Errorf("namespace pins left: %v", p)
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil && bytes.Contains(b, []byte("/run/netns/"+id+"-")) {
		t.Errorf("mounts of the lab's namespaces left in /proc/self/mountinfo")
	}
	if _, err := os.Stat(filepath.Join(root, id)); !os.IsNotExist(err) {
		t.Errorf("state directory %s left (%v)", filepath.Join(root, id), err)
	}
	if _, err := os.Stat(filepath.Join(lab.DefaultDataRoot, id)); !os.IsNotExist(err) {
		t.Errorf("data directory %s left (%v)", filepath.Join(lab.DefaultDataRoot, id), err)
	}
	for _, p := range seen {
		if p.alive() {
			t.Errorf("process %d (%s) of the lab still runs", p.pid, p.cmdline())
		}
	}
}

// freshLab builds nslab and returns it with a fresh state root and lab id
// (prefix and random hex), the lab taken down at the end if the test
// leaves it up.
func freshLab(t *testing.T, prefix string) (bin, root, id string) {
	t.Helper()
	bin, root, id = buildNslab(t), t.TempDir(), labID(t, prefix)
	cleanupLab(t, bin, root, id)
	return bin, root, id
}

// upDetached brings a lab of the topology up detached, as freshLab's lab;
// in runs nslab against it.
func upDetached(t *testing.T, prefix, topology string) (bin, root, id string, in func(args ...string) result) {
	t.Helper()
	bin, root, id = freshLab(t, prefix)
	file := filepath.Join(t.TempDir(), prefix+".yaml")
	if err := os.WriteFile(file, []byte(topology), 0o644); err != nil {
		t.Fatal(err)
	}
	mustNslab(t, bin, "--root", root, "up", "--id", id, "--detach", file)
	in = func(args ...string) result {
		return nslab(t, bin, append([]string{"--root", root, "--lab", id}, args...)...)
	}
	return bin, root, id, in
}

// startUp starts a foreground `nslab up` of the topology file: the
// process, what it writes to its standard output and error, and a channel
// that gets the result of its Wait.
func startUp(t *testing.T, bin, root, id, file string) (up *exec.Cmd, out, errb *nstest.Output, exited chan error) {
	t.Helper()
	up = exec.Command(bin, "--root", root, "up", "--id", id, file)
	out, errb = new(nstest.Output), new(nstest.Output)
	up.Stdout, up.Stderr = out, errb
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	exited = make(chan error, 1)
	go func() { exited <- up.Wait() }()
	return up, out, errb, exited
}

// cleanupLab makes sure a failed test leaves nothing behind either.
func cleanupLab(t *testing.T, bin, root, id string) {
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(root, id)); err == nil || len(pins(id)) > 0 {
			t.Logf("cleaning up lab %s after the test", id)
			nslab(t, bin, "--root", root, "--lab", id, "down", "--force")
			nslab(t, bin, "--root", root, "gc")
		}
	})
}

// clip shortens what the log shows of a long output.
func clip(s string) string {
	const max = 1500
	if len(s) <= max {
		return s
	}
	return s[:max] + fmt.Sprintf("\n... (%d more bytes)\n", len(s)-max)
}
