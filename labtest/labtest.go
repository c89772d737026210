package labtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
)

// Deadlines of what travels or starts.
const (
	// UpTimeout bounds bringing a lab up, and taking it down.
	UpTimeout = 60 * time.Second
	// ProbeTimeout is how long a probe that must succeed may retry.
	ProbeTimeout = 5 * time.Second
	// SilenceTimeout is how long a path that must fail has to stay
	// silent: a check of unreachability waits all of it.
	SilenceTimeout = 2 * time.Second
	// StepTimeout bounds one command or API call of a helper.
	StepTimeout = 30 * time.Second
	// logLines is how much of each daemon's log a failed test shows.
	logLines = 200
)

// Topology is what Up builds a lab from: the path of a YAML file, YAML
// bytes, or a topology built in Go.
type Topology interface {
	string | []byte | *lab.Topology
}

// Option tunes Up.
type Option func(*settings)

type settings struct {
	lab     lab.Options
	timeout time.Duration
	pool    *Pool
}

// WithOptions sets the lab's own options (state root, programs, runtime,
// dockerd, images...); options after it change them further.
func WithOptions(o lab.Options) Option { return func(s *settings) { s.lab = o } }

// WithID names the lab (^[a-z][a-z0-9]{2,9}$, the prefix of every name it
// makes); default a random "nsl" + 4 hex digits.
func WithID(id string) Option { return func(s *settings) { s.lab.ID = id } }

// WithRuntime chooses the daemon of the docker hosts: lab.RuntimeHostd
// (default) or lab.RuntimeDockerd, a real dockerd 20.10.
func WithRuntime(runtime string) Option { return func(s *settings) { s.lab.Runtime = runtime } }

// WithTimeout bounds bringing the lab up (default UpTimeout).
func WithTimeout(d time.Duration) Option { return func(s *settings) { s.timeout = d } }

// Lab is a running lab of a test. It is a lab.Lab (the whole lab API:
// Describe, StopEtcd, ...) whose hosts come as Hosts, and whose helpers
// fail the test instead of returning errors.
type Lab struct {
	*lab.Lab
	t testing.TB
	// ctx ends when the test does; every helper's context derives from it.
	ctx context.Context

	mu    sync.Mutex
	hosts map[string]*Host
	ways  []string // Via of every Docker handed out (CLI, API)
	// reused: the lab came from a pool, given back by an earlier test.
	reused bool
}

// Reused says whether the lab came from a pool (FromPool), reset after an
// earlier test, rather than up for this test.
func (l *Lab) Reused() bool { return l.reused }

// Up builds the lab of topology for t and registers its removal with
// t.Cleanup: daemons, containers, namespaces and state go when t ends,
// whatever its outcome, and a failed t first gets every daemon's and etcd
// member's log. Up skips t, saying why, when this machine cannot run the
// lab (not root, a kernel without what the topology needs, no dockerd 20.10
// for lab.RuntimeDockerd), and fails it when the lab does not come up.
// With FromPool the lab comes from a pool and goes back to it (see Pool).
func Up[T Topology](t testing.TB, topology T, opts ...Option) *Lab {
	t.Helper()
	topo, err := loadTopology(topology)
	if err != nil {
		t.Fatalf("labtest: %v", err)
	}
	s := settings{timeout: UpTimeout}
	for _, o := range opts {
		o(&s)
	}
	if why := cannotRun(topo, s.lab); why != "" {
		t.Skipf("labtest: %s", why)
	}
	if s.lab.Progress == nil {
		s.lab.Progress = logWriter{t}
	}
	if s.pool != nil && s.lab.ID == "" {
		return upPooled(t, topo, s)
	}
	ctx, cancel := stepContext(t.Context(), s.timeout)
	defer cancel()
	ll, err := lab.Up(ctx, topo, s.lab)
	if err != nil {
		t.Fatalf("labtest: up %s: %v", topologyName(topo), err)
	}
	l := wrap(t, ll)
	t.Cleanup(l.down)
	// Cleanups run last in, first out: the logs before the lab goes.
	t.Cleanup(l.logsOnFailure)
	return l
}

// upPooled takes a lab of topo from s.pool, or brings one up for it, and
// gives it back when t ends.
func upPooled(t testing.TB, topo *lab.Topology, s settings) *Lab {
	t.Helper()
	if s.lab.OnDemand {
		// Its daemons start from listeners that the process that brought
		// it up holds, and a reset has no state of theirs to put back.
		t.Fatalf("labtest: FromPool with lab.Options.OnDemand: a pooled lab is reset between tests and passes from process to process, and an on-demand lab can do neither")
	}
	key, err := poolKey(topo, s.lab)
	if err != nil {
		t.Fatalf("labtest: %v", err)
	}
	ll, err := s.pool.take(key)
	if err != nil {
		t.Fatalf("labtest: pool: %v", err)
	}
	fresh := ll == nil
	if fresh {
		ctx, cancel := stepContext(t.Context(), s.timeout)
		defer cancel()
		if ll, err = s.pool.up(ctx, topo, s.lab, key); err != nil {
			t.Fatalf("labtest: up %s: %v", topologyName(topo), err)
		}
	}
	l := wrap(t, ll)
	l.reused = !fresh
	if l.reused {
		t.Logf("labtest: lab %s from the pool, as up left it", ll.ID())
	}
	t.Cleanup(func() {
		t.Helper()
		l.closeClients()
		s.pool.giveBack(t, ll, key, hasEtcd(topo))
	})
	t.Cleanup(l.logsOnFailure)
	return l
}

// wrap makes ll the lab of t.
func wrap(t testing.TB, ll *lab.Lab) *Lab {
	return &Lab{Lab: ll, t: t, ctx: t.Context(), hosts: map[string]*Host{}}
}

// loadTopology reads a topology of any of the shapes Up takes.
func loadTopology(topology any) (*lab.Topology, error) {
	switch v := topology.(type) {
	case string:
		return lab.LoadTopology(v)
	case []byte:
		return lab.ParseTopology("topology.yaml", v)
	case *lab.Topology:
		if v == nil {
			return nil, errors.New("no topology (nil)")
		}
		return v, nil
	}
	return nil, fmt.Errorf("topology of type %T", topology)
}

func topologyName(t *lab.Topology) string {
	switch {
	case t.File != "":
		return t.File
	case t.Name != "":
		return t.Name
	}
	return "the topology"
}

// down takes the lab down at the end of the test and checks that its
// state directory went with it.
func (l *Lab) down() {
	l.t.Helper()
	l.closeClients()
	// The test's context has ended by now.
	ctx, cancel := context.WithTimeout(context.Background(), UpTimeout)
	defer cancel()
	if err := l.Down(ctx); err != nil {
		l.t.Errorf("labtest: down %s: %v", l.ID(), err)
	}
	if _, err := os.Stat(l.StateDir()); !errors.Is(err, os.ErrNotExist) {
		l.t.Errorf("labtest: lab %s: state directory %s left after down (%v)", l.ID(), l.StateDir(), err)
	}
}

// closeClients closes the Docker clients the test's hosts handed out.
func (l *Lab) closeClients() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range l.hosts {
		h.closeDocker()
	}
}

// logsOnFailure writes the end of every daemon's and etcd member's log to
// the output of a failed test, while the lab still has them.
func (l *Lab) logsOnFailure() {
	if !l.t.Failed() {
		return
	}
	for _, h := range l.Lab.Hosts() {
		for _, p := range h.Logs() {
			l.t.Logf("--- lab %s, host %s: last %d lines of %s\n%s", l.ID(), h.Name, logLines, p, lab.Tail(p, logLines))
		}
	}
}

// Host returns the named host; the test fails if there is none.
func (l *Lab) Host(name string) *Host {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.hosts[name]; ok {
		return h
	}
	lh, err := l.Lab.Host(name)
	if err != nil {
		l.t.Fatalf("labtest: %v", err)
	}
	h := &Host{Host: lh, l: l}
	l.hosts[name] = h
	return h
}

// H is Host, as specs write it.
func (l *Lab) H(name string) *Host {
	l.t.Helper()
	return l.Host(name)
}

// Hosts returns the lab's hosts in topology order.
func (l *Lab) Hosts() []*Host {
	l.t.Helper()
	var hs []*Host
	for _, h := range l.Lab.Hosts() {
		hs = append(hs, l.Host(h.Name))
	}
	return hs
}

// Sh runs a shell command line inside the named host, as one types it
// there, and returns its standard output; it must exit 0.
func (l *Lab) Sh(host, line string) string {
	l.t.Helper()
	return l.Host(host).Sh(line)
}

// T is the test the lab belongs to.
func (l *Lab) T() testing.TB { return l.t }

// Ways lists, sorted, how the test drove the hosts' daemons: the Via of
// every Docker that CLI and API handed out ("Docker API", "docker CLI").
// Tests that run once per way tell their results apart with it.
func (l *Lab) Ways() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ways)
}

func (l *Lab) usedWay(via string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.Contains(l.ways, via) {
		l.ways = append(l.ways, via)
		slices.Sort(l.ways)
	}
}

// logWriter turns the lab's progress lines into test log lines.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
