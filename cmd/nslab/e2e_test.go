package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/lab"
)

// TestDetachedLab is a user's session: a detached lab, the CLI against it,
// the real docker CLI against its host, and down leaving nothing.
func TestDetachedLab(t *testing.T) {
	needRoot(t)
	t.Parallel()
	bin, root, id := freshLab(t, "e2e")
	at := []string{"--root", root}

	r := mustNslab(t, bin, append(at, "up", "--detach", "--id", id, "../../fixtures/single.yaml")...)
	for _, want := range []string{"lab " + id + " (single) is up", "host1", "eth1=192.168.99.101/24", "unix://" + filepath.Join(root, id, "host1", "docker.sock")} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("up --detach summary lacks %q", want)
		}
	}

	// The keeper owns the lab, alone in a session of its own.
	var labs []lab.Summary
	if err := json.Unmarshal([]byte(mustNslab(t, bin, append(at, "ls", "--json")...).stdout), &labs); err != nil {
		t.Fatalf("ls --json: %v", err)
	}
	if len(labs) != 1 || labs[0].ID != id || labs[0].State != "up" || !labs[0].Alive || !slices.Equal(labs[0].Hosts, []string{"host1"}) {
		t.Fatalf("ls --json = %+v, want lab %s up with host1", labs, id)
	}
	keeper, ok := findProc(labs[0].Owner)
	if !ok || !keeper.isUp() {
		t.Fatalf("owner %d is not a running `nslab up`", labs[0].Owner)
	}
	if sid, err := unix.Getsid(keeper.pid); err != nil || sid != keeper.pid {
		t.Errorf("keeper %d: session %d (%v), want a session of its own", keeper.pid, sid, err)
	}
	if _, err := os.Stat(filepath.Join(root, id, keeperLog)); err != nil {
		t.Errorf("keeper log: %v", err)
	}
	table := mustNslab(t, bin, append(at, "ls")...).stdout
	if !regexp.MustCompile(`(?m)^` + id + `\s+single\s+host1\s+\d+\s+up\s`).MatchString(table) {
		t.Errorf("ls table lacks the lab:\n%s", table)
	}

	// exec: the only lab is chosen without --lab; status passes through.
	r = mustNslab(t, bin, append(at, "exec", "host1", "--", "ip", "-o", "addr")...)
	if !regexp.MustCompile(`(?m)^\d+: eth1\s+inet 192\.168\.99\.101/24 `).MatchString(r.stdout) {
		t.Errorf("ip -o addr in host1 lacks eth1 192.168.99.101/24")
	}
	if r = nslab(t, bin, append(at, "exec", "host1", "--", "sh", "-c", "hostname; exit 7")...); r.code != 7 || strings.TrimSpace(r.stdout) != "host1" {
		t.Errorf("exec host1 sh -c 'hostname; exit 7': status %d, output %q; want 7 and host1", r.code, r.stdout)
	}

	// exec keeps the working directory the host also has, and leaves the
	// caller's DOCKER_HOST outside; shell is a login: home directory, the
	// lab's id for Debian's prompt, a status of its own.
	t.Run("exec and shell", func(t *testing.T) {
		dir := t.TempDir()
		run := func(stdin string, args ...string) (string, int) {
			cmd := exec.Command(bin, append(at, args...)...)
			cmd.Dir, cmd.Stdin = dir, strings.NewReader(stdin)
			cmd.Env = append(os.Environ(), "DOCKER_HOST=unix:///nowhere.sock", "SHELL=/bin/sh")
			out, err := cmd.Output()
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatalf("nslab %s: %v", strings.Join(args, " "), err)
			}
			return string(out), cmd.ProcessState.ExitCode()
		}
		if out, code := run("", "exec", "host1", "--", "sh", "-c", `pwd; echo "[$DOCKER_HOST]"; ls /run`); code != 0 ||
			!strings.HasPrefix(out, dir+"\n[]\n") || strings.Contains(out, "netns") {
			t.Errorf("exec host1: status %d, output %q; want the caller's directory, no DOCKER_HOST, the host's own /run", code, out)
		}
		if out, code := run("hostname; pwd; echo $debian_chroot; exit 4\n", "shell", "host1"); code != 4 || out != "host1\n/root\n"+id+"\n" {
			t.Errorf("shell host1: status %d, output %q; want 4 and host1, /root, %s", code, out, id)
		}
	})

	t.Run("docker", func(t *testing.T) {
		if _, err := exec.LookPath("docker"); err != nil {
			t.Skip("the docker CLI is not on PATH (apt-get install docker.io):", err)
		}
		r := mustNslab(t, bin, append(at, "docker", "host1", "--", "run", "-d", "--name", "cm01", "--network", "none", "alpine", "sleep", "1000")...)
		if !regexp.MustCompile(`^[0-9a-f]{64}\n$`).MatchString(r.stdout) {
			t.Errorf("docker run -d printed %q, want a container id", r.stdout)
		}
		if _, err := os.Stat("/run/netns/" + id + "-host1-cm01"); err != nil {
			t.Errorf("container namespace pin: %v", err)
		}
		loOnly := func(out string) bool {
			links := regexp.MustCompile(`(?m)^\d+: ([^:@]+)`).FindAllStringSubmatch(out, -1)
			return len(links) == 1 && links[0][1] == "lo" && strings.Contains(out, "inet 127.0.0.1/8")
		}
		if r = mustNslab(t, bin, append(at, "docker", "host1", "--", "exec", "cm01", "ip", "a")...); !loOnly(r.stdout) {
			t.Errorf("docker exec cm01 ip a: want lo alone in a --network none container")
		}
		if r = mustNslab(t, bin, append(at, "exec", "host1/cm01", "--", "ip", "a")...); !loOnly(r.stdout) {
			t.Errorf("exec host1/cm01 ip a: want lo alone in a --network none container")
		}
		if r = nslab(t, bin, append(at, "exec", "host1/cm01", "--", "sh", "-c", "exit 3")...); r.code != 3 {
			t.Errorf("exec host1/cm01 sh -c 'exit 3': status %d, want 3", r.code)
		}
		if r = nslab(t, bin, append(at, "docker", "host1", "--", "inspect", "no-such-container")...); r.code == 0 {
			t.Errorf("docker inspect of a missing container succeeded")
		}
	})

	// inspect is the kernel's view.
	var d lab.Description
	if err := json.Unmarshal([]byte(mustNslab(t, bin, append(at, "inspect")...).stdout), &d); err != nil {
		t.Fatalf("inspect: %v", err)
	}
	if d.ID != id || len(d.Hosts) != 1 || d.Hosts[0].Name != "host1" || d.Hosts[0].HostdPID == 0 {
		t.Fatalf("inspect: %+v", d)
	}
	if len(d.Fabric.Bridges) != 1 || d.Fabric.Bridges[0].Name != "lan0" || len(d.Fabric.Bridges[0].Ports) != 1 {
		t.Errorf("inspect fabric: %+v, want bridge lan0 with one port", d.Fabric)
	}
	var hd lab.HostDescription
	if err := json.Unmarshal([]byte(mustNslab(t, bin, append(at, "inspect", "host1")...).stdout), &hd); err != nil {
		t.Fatalf("inspect host1: %v", err)
	}
	found := false
	for _, l := range hd.Links {
		found = found || l.Name == "eth1" && slices.Contains(l.Addrs, "192.168.99.101/24")
	}
	if !found {
		t.Errorf("inspect host1: no eth1 with 192.168.99.101/24 in %+v", hd.Links)
	}

	seen := append(procsIn(id), keeper)
	if len(seen) < 2 {
		t.Fatalf("expected hostd (and the container) in the lab's namespaces, found %v", seen)
	}
	r = mustNslab(t, bin, append(at, "down")...)
	if strings.TrimSpace(r.stdout) != id {
		t.Errorf("down printed %q, want the lab id", r.stdout)
	}
	assertGone(t, root, id, seen)
	if r = nslab(t, bin, append(at, "ls", "--json")...); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("ls after down: %s", r.stdout)
	}
}

// TestForegroundDown: `nslab down` from elsewhere asks a foreground
// `nslab up` to take its lab down, and that process ends cleanly.
func TestForegroundDown(t *testing.T) {
	needRoot(t)
	t.Parallel()
	bin, root, id := freshLab(t, "fgd")

	up, out, errb, exited := startUp(t, bin, root, id, "../../fixtures/classroom.yaml")
	deadline := time.After(60 * time.Second)
	for !strings.Contains(out.String(), "is up") {
		select {
		case err := <-exited:
			t.Fatalf("nslab up exited before the lab was up: %v\n%s", err, errb.String())
		case <-deadline:
			up.Process.Kill()
			t.Fatalf("lab not up within 60s:\n%s", errb.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	owner, _ := findProc(up.Process.Pid)
	seen := append(procsIn(id), owner)
	if len(seen) < 3 {
		t.Fatalf("expected a hostd per host in the lab's namespaces, found %v", seen)
	}

	// A second up with the same id is refused and leaves the lab alone,
	// under the same state root and under another one (the namespace
	// names are global).
	if r := nslab(t, bin, "--root", root, "up", "--id", id, "../../fixtures/classroom.yaml"); r.code != 1 || !strings.Contains(r.stderr, "lab "+id+" exists already") {
		t.Errorf("second up with id %s: status %d, %q; want a refusal", id, r.code, r.stderr)
	}
	if r := nslab(t, bin, "--root", t.TempDir(), "up", "--id", id, "../../fixtures/classroom.yaml"); r.code != 1 || !strings.Contains(r.stderr, "in use") {
		t.Errorf("up with id %s under another root: status %d, %q; want a refusal", id, r.code, r.stderr)
	}
	if st := labState(root, id); st != "up" {
		t.Errorf("after the refused ups, lab %s is %q, want up", id, st)
	}

	mustNslab(t, bin, "--root", root, "down")
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("foreground nslab up after down: %v\n%s", err, errb.String())
		}
	case <-time.After(downTimeout):
		up.Process.Kill()
		t.Fatal("foreground nslab up did not exit after down")
	}
	if !strings.Contains(errb.String(), "signal received; taking it down") {
		t.Errorf("foreground up did not say why it went down:\n%s", errb.String())
	}
	assertGone(t, root, id, seen)
}

// `nslab up --on-demand`: the detached lab's docker host runs no daemon
// until the first docker command or `nslab exec` in it, which finds it
// answering; such a lab cannot be reset, and goes down as any other.
func TestOnDemandLab(t *testing.T) {
	needRoot(t)
	t.Parallel()
	bin, root, id := freshLab(t, "dem")
	at := []string{"--root", root, "--lab", id}
	mustNslab(t, bin, "--root", root, "up", "--detach", "--on-demand", "--id", id, "../../fixtures/single.yaml")
	hostdPID := func() int {
		l, err := lab.Open(root, id)
		if err != nil {
			t.Fatal(err)
		}
		h, err := l.Host("host1")
		if err != nil {
			t.Fatal(err)
		}
		return h.HostdPID()
	}
	if pid := hostdPID(); pid != 0 {
		t.Fatalf("host1's hostd %d runs before any use", pid)
	}
	if r := mustNslab(t, bin, append(at, "exec", "host1", "--", "ip", "-o", "link", "show", "docker0")...); !strings.Contains(r.stdout, "docker0") {
		t.Errorf("docker0 at host1's first command: %q", r.stdout)
	}
	if pid := hostdPID(); pid <= 0 {
		t.Errorf("no hostd recorded after host1's first use")
	}
	if _, err := exec.LookPath("docker"); err == nil {
		if r := mustNslab(t, bin, append(at, "docker", "host1", "--", "network", "ls", "--format", "{{.Name}}")...); !strings.Contains(r.stdout, "bridge") {
			t.Errorf("docker network ls: %q", r.stdout)
		}
	}
	if r := nslab(t, bin, append(at, "reset")...); r.code == 0 || !strings.Contains(r.stderr, "on demand") {
		t.Errorf("reset of an on-demand lab: status %d, %q; want a refusal that says why", r.code, r.stderr)
	}
	mustNslab(t, bin, append(at, "down")...)
	if _, err := os.Stat(filepath.Join(root, id)); !os.IsNotExist(err) {
		t.Errorf("state dir left after down: %v", err)
	}
}
