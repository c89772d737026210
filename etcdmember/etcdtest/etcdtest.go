// Package etcdtest runs etcd members for tests: cmd/nslab-etcd, built once
// per test binary (make build's under make test), started as a process
// inside a test namespace, as the lab runs it in a virtual host.
package etcdtest

import (
	"bufio"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/nstest"
)

// member is the lab's member program.
var member = nstest.Programs{
	Packages:   []string{"github.com/nslab/nslab/cmd/nslab-etcd"},
	DirPattern: "etcdtest-bin-",
}

// Binary builds nslab-etcd with the go tool, once per test binary, and
// returns its path. Cleanup removes it; call it from TestMain.
func Binary(t testing.TB) string {
	t.Helper()
	return member.Path(t, "nslab-etcd")
}

// Cleanup removes what Binary built.
func Cleanup() { member.Cleanup() }

// Member is one member process.
type Member struct {
	// NS and Args are what it was started with, for a restart.
	NS   string
	Args []string
	Cmd  *exec.Cmd
	// Ready receives the member's first line ("ready URL,...").
	Ready chan string
	// Exited closes when the process has ended.
	Exited chan struct{}

	mu     sync.Mutex
	stderr strings.Builder
}

// Start runs nslab-etcd with args inside the namespace at ns.
func Start(t testing.TB, ns string, args ...string) *Member {
	t.Helper()
	m := &Member{NS: ns, Args: args, Ready: make(chan string, 1), Exited: make(chan struct{})}
	m.Cmd = exec.Command(Binary(t), args...)
	m.Cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	m.Cmd.Stderr = stderrWriter{m}
	out, err := m.Cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.StartIn(ns, m.Cmd); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			m.Ready <- sc.Text()
		}
		for sc.Scan() {
		}
		m.Cmd.Wait()
		close(m.Exited)
	}()
	return m
}

// Restart starts a new process with the same namespace and arguments.
func (m *Member) Restart(t testing.TB) *Member {
	t.Helper()
	return Start(t, m.NS, m.Args...)
}

type stderrWriter struct{ m *Member }

func (w stderrWriter) Write(p []byte) (int, error) {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	return w.m.stderr.Write(p)
}

// Stderr is what the member wrote to its standard error so far.
func (m *Member) Stderr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stderr.String()
}

// WaitReady fails the test unless the member says it is ready within d.
func (m *Member) WaitReady(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case l := <-m.Ready:
		if !strings.HasPrefix(l, "ready ") {
			t.Fatalf("member said %q", l)
		}
	case <-m.Exited:
		t.Fatalf("member exited: %s", m.Stderr())
	case <-time.After(d):
		t.Fatalf("member not ready in %v: %s", d, m.Stderr())
	}
}

// Kill ends the member at once, as a crashed host.
func (m *Member) Kill(t testing.TB) {
	t.Helper()
	if err := m.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-m.Exited
}

// Stop asks the member to end (SIGTERM) and kills it after 10 s; it
// reports whether the member ended by itself. A stopped member is fine.
func (m *Member) Stop() bool {
	select {
	case <-m.Exited:
		return true
	default:
	}
	m.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.Exited:
		return true
	case <-time.After(10 * time.Second):
		m.Cmd.Process.Kill()
		<-m.Exited
		return false
	}
}
