package labtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/lab"
)

// A Pool keeps labs up between tests. A test that asks for a lab through
// a pool (Up with FromPool) gets one that an earlier test of the same
// topology and options gave back, or a new one; when it ends, its lab is
// reset (lab.Lab.Reset: back to how up left it, checked against it) and
// given back for the next test. A lab whose test failed, or that does not
// come back as new, goes down instead: the test that left it fails with
// what differed, so no test ever gets what another left. Tests that kill
// a daemon or an etcd member leave what a reset cannot make again: they
// take a lab of their own (Up without FromPool).
//
// Several processes share a pool through its directory (a Ginkgo suite's
// parallel processes: one makes it with NewPool before the specs, the
// others join it with OpenPool, and the first closes it once all are
// done), so a lab made in one process serves the tests of all.
type Pool struct {
	dir  string
	root string // the labs' state root

	mu   sync.Mutex
	labs map[string]*lab.Lab // the labs this process made or took, by id

	cheaper bool // ChooseCheaper

	idle idleTimers // IdleLimit
}

// poolsDir holds the pools' directories under the labs' state root; its
// name is no lab id, so nslab ls and gc pass it by.
const poolsDir = "labtest-pools"

// NewPool makes a pool for labs under the state root root ("" for
// lab.DefaultRoot).
func NewPool(root string) (*Pool, error) {
	if root == "" {
		root = lab.DefaultRoot
	}
	parent := filepath.Join(root, poolsDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("labtest: pool: %w", err)
	}
	dir, err := os.MkdirTemp(parent, "pool")
	if err != nil {
		return nil, fmt.Errorf("labtest: pool: %w", err)
	}
	for _, d := range []string{"labs", "idle", "made"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("labtest: pool: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "root"), []byte(root), 0o644); err != nil {
		return nil, fmt.Errorf("labtest: pool: %w", err)
	}
	return OpenPool(dir)
}

// OpenPool joins the pool whose directory is dir (Pool.Dir of the process
// that made it).
func OpenPool(dir string) (*Pool, error) {
	root, err := os.ReadFile(filepath.Join(dir, "root"))
	if err != nil {
		return nil, fmt.Errorf("labtest: pool: %w", err)
	}
	return &Pool{dir: dir, root: string(root), labs: map[string]*lab.Lab{}}, nil
}

// Dir is the pool's directory, for OpenPool in another process.
func (p *Pool) Dir() string { return p.dir }

// FromPool makes Up take its lab from p, and give it back when the test
// ends. Options that name the lab (WithID) make a lab of its own instead.
func FromPool(p *Pool) Option { return func(s *settings) { s.pool = p } }

// key tells labs apart that a test may not swap: their topology and the
// options of their daemons.
func poolKey(topo *lab.Topology, o lab.Options) (string, error) {
	b, err := json.Marshal(struct {
		Topology                           *lab.Topology
		Runtime, Hostd, Dockerd, Etcd      string
		Binary, ImageStore, DataRoot, Root string
		Images                             []string
	}{topo, o.Runtime, o.Hostd, o.Dockerd, o.Etcd, o.Binary, o.ImageStore, o.DataRoot, o.Root, o.Images})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}

// locked runs fn holding the pool's lock, which orders its processes.
func (p *Pool) locked(fn func() error) error {
	f, err := os.OpenFile(filepath.Join(p.dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return err
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return fn()
}

// take returns an idle lab of key, now owned by this process, or nil when
// there is none.
func (p *Pool) take(key string) (*lab.Lab, error) {
	var id string
	err := p.locked(func() error {
		ents, err := os.ReadDir(filepath.Join(p.dir, "idle", key))
		if err != nil || len(ents) == 0 {
			return nil
		}
		id = ents[0].Name()
		return os.Remove(filepath.Join(p.dir, "idle", key, id))
	})
	if err != nil || id == "" {
		return nil, err
	}
	// From its state directory, always: another process may have reset
	// it last, and a reset may start its daemons again (real dockerds).
	l, err := lab.Open(p.root, id)
	if err != nil {
		return nil, err
	}
	// The lab goes with this process should it die: gc finds it.
	if err := l.SetOwner(os.Getpid()); err != nil {
		return nil, err
	}
	p.keep(l)
	return l, nil
}

func (p *Pool) keep(l *lab.Lab) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.labs[l.ID()] = l
}

// up brings up a new lab for the pool and records it there.
func (p *Pool) up(ctx context.Context, topo *lab.Topology, o lab.Options, key string) (*lab.Lab, error) {
	o.Resettable = true
	if o.Root == "" {
		o.Root = p.root
	}
	t0 := time.Now()
	l, err := lab.Up(ctx, topo, o)
	if err != nil {
		return nil, err
	}
	took := time.Since(t0)
	p.measured(key, func(c *costs) { c.Ups++; c.UpTime += took })
	err = os.WriteFile(filepath.Join(p.dir, "labs", l.ID()), nil, 0o644)
	if err == nil {
		err = p.Record(l.ID())
	}
	if err != nil {
		l.Down(context.Background())
		return nil, fmt.Errorf("labtest: pool: %w", err)
	}
	p.keep(l)
	return l, nil
}

// giveBack resets the lab of t and makes it idle again; a lab whose test
// failed, or that the test took down, or whose reset costs more than a new
// lab (ChooseCheaper), goes down instead, and one that does not come back
// as new goes down and fails t. An idle lab with etcd members goes down
// later if no test takes it (IdleLimit).
func (p *Pool) giveBack(t testing.TB, l *lab.Lab, key string, etcd bool) {
	t.Helper()
	if _, err := os.Stat(l.StateDir()); errors.Is(err, os.ErrNotExist) {
		p.forget(l)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), UpTimeout)
	defer cancel()
	if !t.Failed() && p.resetPays(key) {
		t0 := time.Now()
		err := l.Reset(ctx)
		if err == nil {
			took := time.Since(t0)
			p.measured(key, func(c *costs) { c.Resets++; c.ResetTime += took })
			mark := idleMark()
			err = p.locked(func() error {
				if err := os.MkdirAll(filepath.Join(p.dir, "idle", key), 0o755); err != nil {
					return err
				}
				return os.WriteFile(filepath.Join(p.dir, "idle", key, l.ID()), []byte(mark), 0o644)
			})
			if err == nil && etcd {
				p.expireLater(l, key, mark)
			}
		}
		if err == nil {
			return
		}
		if errors.Is(err, lab.ErrNotResettable) {
			err = fmt.Errorf("%w (a test that does this takes a lab of its own: Up without FromPool)", err)
		}
		t.Errorf("labtest: pooled lab %s given back: %v", l.ID(), err)
	}
	t0 := time.Now()
	if err := l.Down(ctx); err != nil {
		t.Errorf("labtest: down %s: %v", l.ID(), err)
	} else {
		took := time.Since(t0)
		p.measured(key, func(c *costs) { c.Downs++; c.DownTime += took })
	}
	p.forget(l)
}

// Record notes that a process of the pool's made lab id, in the pool or
// not: Made lists it until Close.
func (p *Pool) Record(id string) error {
	return os.WriteFile(filepath.Join(p.dir, "made", id), nil, 0o644)
}

// Made lists every lab id the pool's processes made (or Recorded), sorted:
// what a run compares around itself is named by these.
func (p *Pool) Made() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(p.dir, "made"))
	if err != nil {
		return nil, fmt.Errorf("labtest: pool: %w", err)
	}
	var ids []string
	for _, e := range ents {
		ids = append(ids, e.Name())
	}
	return ids, nil
}

func (p *Pool) forget(l *lab.Lab) {
	os.Remove(filepath.Join(p.dir, "labs", l.ID()))
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.labs, l.ID())
}

// Close takes down every lab of the pool, idle or not, made by any of its
// processes, and removes the pool's directory. Call it once, when no test
// of any process uses the pool any more (and the others have left).
func (p *Pool) Close(ctx context.Context) error {
	p.Leave()
	ents, err := os.ReadDir(filepath.Join(p.dir, "labs"))
	if err != nil {
		return fmt.Errorf("labtest: pool: %w", err)
	}
	var ids []string
	for _, e := range ents {
		ids = append(ids, e.Name())
	}
	sort.Strings(ids)
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for _, id := range ids {
		wg.Go(func() {
			p.mu.Lock()
			l := p.labs[id]
			p.mu.Unlock()
			var err error
			if l == nil {
				l, err = lab.Open(p.root, id)
			}
			if err == nil {
				err = l.Down(ctx)
			}
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := os.RemoveAll(p.dir); err != nil {
		errs = append(errs, err)
	}
	// The parent goes with the last pool.
	os.Remove(filepath.Dir(p.dir))
	return errors.Join(errs...)
}
