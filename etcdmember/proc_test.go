package etcdmember_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/nstest"
)

// proc is a helper program running inside a host's namespace.
type proc struct {
	name   string
	cmd    *exec.Cmd
	ready  chan line // its first line, and when it came
	exited chan struct{}
	stderr nstest.Output
	log    string // etcd's log file, for failure messages
}

type line struct {
	text string
	at   time.Time
}

// memberSpec is what a member process is started with.
type memberSpec struct {
	self    host
	cluster []host
	dataDir string
	state   string
	v2      bool
}

// startMember starts membermain for spec inside its host's namespace. It is
// stopped (SIGTERM, then SIGKILL) when the test ends.
func startMember(t testing.TB, s memberSpec) *proc {
	t.Helper()
	var cluster []string
	for _, h := range s.cluster {
		cluster = append(cluster, h.member+"="+h.addr.String())
	}
	if err := os.MkdirAll(filepath.Dir(s.dataDir), 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(filepath.Dir(s.dataDir), s.self.member+".log")
	args := []string{
		"-name", s.self.member,
		"-data-dir", s.dataDir,
		"-advertise", s.self.addr.String(),
		"-cluster", strings.Join(cluster, ","),
		"-loopback",
		"-log", logPath,
		"-timeout", "20s",
	}
	if s.state != "" {
		args = append(args, "-state", s.state)
	}
	if s.v2 {
		args = append(args, "-v2")
	}
	p := startIn(t, s.self.ns, s.self.member, binary(t, "membermain"), args...)
	p.log = logPath
	return p
}

// startIn starts bin inside the namespace ns, with a clean environment.
func startIn(t testing.TB, ns, name, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	p := &proc{name: name, cmd: cmd, ready: make(chan line, 1), exited: make(chan struct{})}
	cmd.Stderr = &p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.StartIn(ns, cmd); err != nil {
		t.Fatalf("%s: start: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			p.ready <- line{sc.Text(), time.Now()}
		}
		for sc.Scan() {
		}
		cmd.Wait() // after the pipe is drained, as exec requires
		close(p.exited)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// waitReady waits for the program's first line ("ready URL,URL" from
// membermain, "idle" from the idle programs) and returns it.
func (p *proc) waitReady(t testing.TB, timeout time.Duration) line {
	t.Helper()
	select {
	case l := <-p.ready:
		return l
	case <-p.exited:
		t.Fatalf("%s: exited before ready: %v\nstderr: %s\n%s", p.name, p.cmd.ProcessState, p.stderr.String(), p.logTail())
	case <-time.After(timeout):
		t.Fatalf("%s: not ready after %s\nstderr: %s\n%s", p.name, timeout, p.stderr.String(), p.logTail())
	}
	return line{}
}

// kill ends the process at once, as a crashing host would.
func (p *proc) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("%s: kill: %v", p.name, err)
	}
	<-p.exited
}

// stop asks the program to end and requires a clean exit within a few
// seconds; a program that does not end is killed. Stopping twice is fine.
func (p *proc) stop(t testing.TB) {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if !p.cmd.ProcessState.Success() {
			t.Errorf("%s: exit after SIGTERM: %v\nstderr: %s", p.name, p.cmd.ProcessState, p.stderr.String())
		}
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("%s: still running 10s after SIGTERM; killed", p.name)
	}
}

// logTail is the end of the member's etcd log, for failure messages.
func (p *proc) logTail() string {
	if p.log == "" {
		return ""
	}
	b, err := os.ReadFile(p.log)
	if err != nil {
		return "etcd log: " + err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "etcd log (end):\n" + string(b)
}

// memory is a process's resident set from /proc, in kB.
type memory struct {
	RSS, Anon, File, PSS int
}

func (m memory) String() string {
	return fmt.Sprintf("VmRSS %.1f MB (anon %.1f, file %.1f), PSS %.1f MB",
		mb(m.RSS), mb(m.Anon), mb(m.File), mb(m.PSS))
}

func mb(kb int) float64 { return float64(kb) / 1024 }

// memoryOf reads VmRSS, RssAnon and RssFile from /proc/PID/status and Pss
// from smaps_rollup. The file-backed part is mostly the binary's own pages,
// which every process running the same binary shares; PSS charges each
// process its share of them.
func memoryOf(pid int) (memory, error) {
	var m memory
	fields := map[string]*int{"VmRSS:": &m.RSS, "RssAnon:": &m.Anon, "RssFile:": &m.File, "Pss:": &m.PSS}
	for _, f := range []string{"status", "smaps_rollup"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f))
		if err != nil {
			return m, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			w := strings.Fields(line)
			if len(w) >= 2 {
				if dst, ok := fields[w[0]]; ok {
					if *dst, err = strconv.Atoi(w[1]); err != nil {
						return m, fmt.Errorf("/proc/%d/%s: %q: %w", pid, f, line, err)
					}
				}
			}
		}
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("/proc/%d: no VmRSS", pid)
	}
	return m, nil
}
