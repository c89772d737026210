package main

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/nslab/nslab/lab"
)

// nslab reset puts a detached lab back: what a student made goes, and
// inspect and the daemon show the lab as up left it.
func TestReset(t *testing.T) {
	needRoot(t)
	t.Parallel()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("the docker CLI is not on PATH (apt-get install docker.io):", err)
	}
	bin := buildNslab(t)
	root := t.TempDir()
	id := labID(t, "rst")
	cleanupLab(t, bin, root, id)
	at := []string{"--root", root, "--lab", id}
	mustNslab(t, bin, "--root", root, "up", "--detach", "--id", id, "../../fixtures/single.yaml")
	look := func() string {
		t.Helper()
		var d lab.Description
		if err := json.Unmarshal([]byte(mustNslab(t, bin, append(at, "inspect")...).stdout), &d); err != nil {
			t.Fatalf("inspect: %v", err)
		}
		// A reset of real dockerds starts them again: another pid, another
		// docker0 (hostd puts itself back in its own process).
		b, _ := json.Marshal(d.Comparable())
		ps := mustNslab(t, bin, append(at, "docker", "host1", "--", "ps", "-a", "--format", "{{.Names}}")...).stdout
		ns := mustNslab(t, bin, append(at, "docker", "host1", "--", "network", "ls", "--format", "{{.Name}}")...).stdout
		return string(b) + "\ncontainers: " + ps + "\nnetworks: " + ns
	}
	fresh := look()
	mustNslab(t, bin, append(at, "docker", "host1", "--", "network", "create", "br1")...)
	mustNslab(t, bin, append(at, "docker", "host1", "--", "run", "-d", "--name", "cm01", "--network", "br1", "alpine", "sleep", "1000")...)
	mustNslab(t, bin, append(at, "exec", "host1", "--", "ip", "route", "add", "10.9.0.0/16", "via", "192.168.99.1")...)
	if look() == fresh {
		t.Fatal("the student's commands changed nothing inspect or the daemon shows")
	}
	r := mustNslab(t, bin, append(at, "reset")...)
	if !regexp.MustCompile(`^` + id + ` reset in \d`).MatchString(r.stdout) {
		t.Errorf("reset printed %q", r.stdout)
	}
	if got := look(); got != fresh {
		t.Errorf("after reset:\n%s\nfresh:\n%s", got, fresh)
	}
	if r := nslab(t, bin, append(at, "reset", "extra")...); r.code != 2 || r.stdout != "" {
		t.Errorf("reset with an argument: status %d, stdout %q; want 2 and nothing", r.code, r.stdout)
	}
	mustNslab(t, bin, append(at, "down")...)
	if r := nslab(t, bin, append(at, "reset")...); r.code == 0 || !strings.Contains(r.stderr, "no lab") {
		t.Errorf("reset of a lab gone: status %d, %q", r.code, r.stderr)
	}
}
