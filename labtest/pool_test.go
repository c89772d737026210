package labtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
)

// failRecorder is a recorder whose failures are its own, not the test's.
type failRecorder struct {
	recorder
	errs []string
}

func (r *failRecorder) Errorf(format string, args ...any) {
	r.failed = true
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *failRecorder) Failed() bool { return r.failed }

// A pooled lab serves the next test once reset: the same lab, without
// what the first test added; one the test broke beyond a reset fails that
// test and goes down; Close takes down what is left.
func TestPool(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	pool, err := NewPool(root)
	if err != nil {
		t.Fatal(err)
	}
	first := &failRecorder{recorder: recorder{TB: t}}
	l := Up(first, twoPlain, FromPool(pool))
	id := l.ID()
	l.Host("a").Sh("ip addr add 10.10.0.99/24 dev eth1 && ip route add 10.99.0.0/16 via 10.10.0.2")
	first.end()
	if len(first.errs) > 0 {
		t.Fatalf("giving the lab back: %v", first.errs)
	}

	second := &failRecorder{recorder: recorder{TB: t}}
	l = Up(second, twoPlain, FromPool(pool))
	if l.ID() != id {
		t.Errorf("second test got lab %s, want the pooled %s", l.ID(), id)
	}
	if out := l.Host("a").Sh("ip -o addr; ip route"); strings.Contains(out, "10.10.0.99") || strings.Contains(out, "10.99.0.0") {
		t.Errorf("the first test's address or route is still there:\n%s", out)
	}
	// An interface up made, deleted: no reset makes it again.
	l.Host("a").Sh("ip link del eth1")
	second.end()
	if len(second.errs) != 1 || !strings.Contains(second.errs[0], lab.ErrNotResettable.Error()) {
		t.Errorf("giving back a lab without its eth1: %q, want one error saying it cannot be reset", second.errs)
	}
	if _, err := os.Stat(filepath.Join(root, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the broken lab %s is still up (%v)", id, err)
	}

	third := &failRecorder{recorder: recorder{TB: t}}
	if l = Up(third, twoPlain, FromPool(pool)); l.ID() == id {
		t.Errorf("third test got the broken lab %s", id)
	}
	third.end()
	made, err := pool.Made()
	if err != nil || len(made) != 2 || made[0] == made[1] || (made[0] != id && made[1] != id) {
		t.Errorf("Made = %v, %v: want the broken lab and the third test's", made, err)
	}
	if err := pool.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(root); len(ents) > 0 {
		t.Errorf("left under the state root after Close: %v", ents)
	}
}

// Once a topology's reset has cost more than its down and up, a pool that
// chooses the cheaper takes its labs down rather than resetting them, and
// the next test gets a new lab; until then, it resets.
func TestPoolChoosesCheaper(t *testing.T) {
	needRoot(t)
	pool, err := NewPool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close(context.Background())
	pool.ChooseCheaper()
	first := &failRecorder{recorder: recorder{TB: t}}
	l := Up(first, twoPlain, FromPool(pool))
	id := l.ID()
	first.end()
	second := &failRecorder{recorder: recorder{TB: t}}
	if l = Up(second, twoPlain, FromPool(pool)); l.ID() != id {
		t.Fatalf("no reset measured yet: the second test got lab %s, want the reset %s", l.ID(), id)
	}
	measured, _ := filepath.Glob(filepath.Join(pool.Dir(), "costs", "*.json"))
	if len(measured) != 1 {
		t.Fatalf("costs measured: %v, want one topology's", measured)
	}
	key := strings.TrimSuffix(filepath.Base(measured[0]), ".json")
	// Make the measured reset dearer than the measured up and down.
	pool.measured(key, func(c *costs) { c.ResetTime += time.Duration(c.Resets+1) * time.Minute })
	second.end()
	if _, err := os.Stat(l.StateDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lab %s was given back, not taken down (%v)", id, err)
	}
	third := &failRecorder{recorder: recorder{TB: t}}
	if l = Up(third, twoPlain, FromPool(pool)); l.ID() == id {
		t.Errorf("the third test got lab %s again", id)
	}
	third.end()
	for _, e := range append(first.errs, append(second.errs, third.errs...)...) {
		t.Error(e)
	}
}

func TestResetDearer(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		c    costs
		want bool
	}{
		{costs{}, false},
		{costs{Ups: 2, UpTime: 400 * ms}, false},
		{costs{Ups: 2, UpTime: 400 * ms, Resets: 1, ResetTime: 300 * ms}, true},
		{costs{Ups: 2, UpTime: 400 * ms, Downs: 1, DownTime: 150 * ms, Resets: 1, ResetTime: 300 * ms}, false},
		{costs{Ups: 1, UpTime: 3 * time.Second, Downs: 1, DownTime: 100 * ms, Resets: 3, ResetTime: 3 * time.Second}, false},
	} {
		if got := c.c.resetDearer(); got != c.want {
			t.Errorf("%+v: resetDearer = %v, want %v", c.c, got, c.want)
		}
	}
}

// twoEtcd is two plain hosts, each a member of the lab's etcd cluster.
var twoEtcd = []byte(`
segments:
  - name: lan0
    prefix: 10.11.0.0/24
hosts:
  - name: a
    kind: plain
    interfaces: [{segment: lan0, address: 10.11.0.1/24}]
    etcd: {name: ma}
  - name: b
    kind: plain
    interfaces: [{segment: lan0, address: 10.11.0.2/24}]
    etcd: {name: mb}
`)

// With IdleLimit, a lab with etcd members that no test takes within the
// limit goes down, members and all; one taken again in time is the same
// lab; labs without members stay; after Leave no timer is left and none is
// armed; Close takes down what is left.
func TestPoolIdleLimit(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	pool, err := NewPool(root)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close(context.Background())
	take := func(topo []byte) (*failRecorder, string) {
		r := &failRecorder{recorder: recorder{TB: t}}
		return r, Up(r, topo, FromPool(pool)).ID()
	}
	giveBack := func(r *failRecorder) {
		r.end()
		if len(r.errs) > 0 {
			t.Fatalf("giving a lab back: %v", r.errs)
		}
	}
	up := func(id string) bool {
		_, err := os.Stat(filepath.Join(root, id))
		return err == nil
	}
	timers := func() int {
		pool.idle.Lock()
		defer pool.idle.Unlock()
		return len(pool.idle.timers)
	}

	// A limit no test run reaches: taken again, it is the same lab.
	pool.IdleLimit(time.Hour)
	r, etcd := take(twoEtcd)
	giveBack(r)
	r, plain := take(twoPlain)
	giveBack(r)
	r, again := take(twoEtcd)
	if again != etcd {
		t.Fatalf("second test got lab %s, want the idle %s", again, etcd)
	}
	// Given back under a short limit, it goes down once that has passed.
	const limit = 300 * time.Millisecond
	pool.IdleLimit(limit)
	giveBack(r)
	start := time.Now()
	for up(etcd) && time.Since(start) < limit+UpTimeout {
		time.Sleep(50 * time.Millisecond)
	}
	if up(etcd) {
		t.Fatalf("idle lab %s with etcd members still up %v after it was given back", etcd, time.Since(start))
	}
	if idle := time.Since(start); idle < limit {
		t.Errorf("idle lab %s went down after %v, before the limit of %v", etcd, idle, limit)
	}
	if members := processesOf(t, etcd); len(members) > 0 {
		t.Errorf("processes of lab %s left: %v", etcd, members)
	}
	if n := timers(); n != 0 {
		t.Errorf("%d timers left after the down, want none (the hour's was replaced)", n)
	}
	if !up(plain) {
		t.Errorf("idle lab %s without etcd members went down", plain)
	}

	// Leave stops the timers, and none is armed after it.
	pool.IdleLimit(time.Hour)
	r, last := take(twoEtcd)
	giveBack(r)
	if n := timers(); n != 1 {
		t.Errorf("%d timers for the idle lab %s, want 1", n, last)
	}
	pool.Leave()
	r, _ = take(twoEtcd)
	giveBack(r)
	if n := timers(); n != 0 || !up(last) {
		t.Errorf("after Leave: %d timers, lab %s up: %v; want none, and the lab up", n, last, up(last))
	}
	if err := pool.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(root); len(ents) > 0 {
		t.Errorf("left under the state root after Close: %v", ents)
	}
}

// processesOf lists the processes whose command line names lab id (its
// etcd members' data directories are under its state directory).
func processesOf(t *testing.T, id string) []string {
	t.Helper()
	var found []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), "/"+id+"/") {
			found = append(found, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return found
}

// fatalRecorder is a recorder whose Fatalf ends the goroutine that calls
// it, as the testing package's does, and keeps the message.
type fatalRecorder struct {
	recorder
	fatal string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// A lab whose daemons start on demand cannot come from a pool: Up fails
// the test, saying why, before anything is made.
func TestPoolRefusesOnDemand(t *testing.T) {
	needRoot(t)
	pool, err := NewPool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close(context.Background())
	r := &fatalRecorder{recorder: recorder{TB: t}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Up(r, twoPlain, FromPool(pool), WithOptions(lab.Options{OnDemand: true}))
	}()
	<-done
	r.end()
	if !strings.Contains(r.fatal, "FromPool with lab.Options.OnDemand") {
		t.Errorf("Up from a pool with OnDemand: %q, want the refusal", r.fatal)
	}
	if labs, _ := os.ReadDir(filepath.Join(pool.Dir(), "labs")); len(labs) > 0 {
		t.Errorf("labs made for the pool: %v", labs)
	}
}
