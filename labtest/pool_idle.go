package labtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nslab/nslab/lab"
)

// IdleLimit makes this process take down a lab with etcd members that it
// gave back and no test of any process took again within d. A member
// keeps its cluster's heartbeat (every 50 ms) while nothing else happens:
// idle, one took 2.6 % of a CPU here, 3.9 % on a loaded machine, and a
// suite's pool kept 20 to 30 of them idle at once (2026-12-06), most of
// them never used again. The other daemons of a lab cost next to nothing
// idle (hostd 0.08 %, dockerd 0.19 %, containerd 0.1 % since
// lab.ContainerdConfig paces its garbage collector), so their labs stay.
// Without IdleLimit, every lab stays until Close. A process that set it
// calls Leave once its tests are done.
func (p *Pool) IdleLimit(d time.Duration) {
	p.idle.Lock()
	defer p.idle.Unlock()
	p.idle.limit = d
}

// idleTimers are a process's timers for the labs it gave back.
type idleTimers struct {
	sync.Mutex
	limit  time.Duration
	left   bool
	timers map[string]*time.Timer // by lab id
	// running counts the timers armed and the downs they began.
	running sync.WaitGroup
}

// Leave stops this process's timers for idle labs and waits for the downs
// they began: what is still idle stays for Close. Call it once this
// process's tests are done, before the pool's Close (in the process that
// closes it, Close calls it).
func (p *Pool) Leave() {
	p.idle.Lock()
	p.idle.left = true
	for id, t := range p.idle.timers {
		if t.Stop() {
			p.idle.running.Done()
		}
		delete(p.idle.timers, id)
	}
	p.idle.Unlock()
	p.idle.running.Wait()
}

// hasEtcd says whether a host of topo runs an etcd member.
func hasEtcd(topo *lab.Topology) bool {
	return slices.ContainsFunc(topo.Hosts, func(h lab.HostSpec) bool { return h.Etcd != nil })
}

// idleMark is what a lab's idle entry holds: who made it idle, and when,
// so that a timer takes down only the idle spell it was armed for.
func idleMark() string {
	return strconv.Itoa(os.Getpid()) + " " + strconv.FormatInt(time.Now().UnixNano(), 10)
}

// expireLater arms the timer that takes l down unless a test takes it
// from the pool before IdleLimit passes; mark is its idle entry's.
func (p *Pool) expireLater(l *lab.Lab, key, mark string) {
	p.idle.Lock()
	defer p.idle.Unlock()
	if p.idle.limit <= 0 || p.idle.left {
		return
	}
	if p.idle.timers == nil {
		p.idle.timers = map[string]*time.Timer{}
	}
	if old := p.idle.timers[l.ID()]; old != nil && old.Stop() {
		p.idle.running.Done()
	}
	p.idle.running.Add(1)
	p.idle.timers[l.ID()] = time.AfterFunc(p.idle.limit, func() {
		defer p.idle.running.Done()
		p.idle.Lock()
		delete(p.idle.timers, l.ID())
		p.idle.Unlock()
		p.expire(l, key, mark)
	})
}

// expire takes l down if its idle entry still holds mark: no test took it
// meanwhile. A down that fails leaves the lab to Close, which says why.
func (p *Pool) expire(l *lab.Lab, key, mark string) {
	claimed := false
	p.locked(func() error {
		path := filepath.Join(p.dir, "idle", key, l.ID())
		if b, err := os.ReadFile(path); err == nil && string(b) == mark {
			claimed = os.Remove(path) == nil
		}
		return nil
	})
	if !claimed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), UpTimeout)
	defer cancel()
	t0 := time.Now()
	if err := l.Down(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "labtest: pool: down of idle lab %s: %v (Close tries again)\n", l.ID(), err)
		return
	}
	took := time.Since(t0)
	p.measured(key, func(c *costs) { c.Downs++; c.DownTime += took })
	p.forget(l)
}
