package lab

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// buildHosts builds every host with a bounded pool of workers. The kernel
// takes most steps under one lock, but namespace creation and the trips
// in and out of namespaces overlap. The first failure stops the others.
func (l *Lab) buildHosts(ctx context.Context, f *fabric, o Options) error {
	n := len(l.hosts)
	workers := min(o.hostWorkers(), n)
	template, err := newHostTemplate()
	if err != nil {
		return err
	}
	defer template.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	progress := newProgress(o.Progress, "hosts", n)
	var (
		once     sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		once.Do(func() { firstErr = err; cancel() })
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One fabric socket per worker: requests on a shared socket
			// would queue behind each other.
			var fc *rtnlConn
			defer func() { fc.Close() }()
			for i := range jobs {
				if ctx.Err() != nil {
					continue
				}
				if fc == nil {
					var err error
					if fc, err = dialRtnl(f.pin); err != nil {
						fail(fmt.Errorf("fabric: %w", err))
						continue
					}
				}
				spec := l.topo.Hosts[i]
				if err := buildHost(ctx, fc, f, l.ID(), i, &spec, l.timings); err != nil {
					fail(err)
					continue
				}
				if spec.namespacesAtUp() {
					if err := l.hosts[i].makeHostNamespaces(template); err != nil {
						fail(err)
						continue
					}
				}
				progress.done()
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// progress prints "what k/n" lines, about ten per run and the last one
// always, so a 1000-host lab does not print a thousand lines.
type progress struct {
	w    io.Writer
	what string
	n    int64
	step int64
	k    atomic.Int64
	mu   sync.Mutex
}

func newProgress(w io.Writer, what string, n int) *progress {
	return &progress{w: w, what: what, n: int64(n), step: max(1, int64(n)/10)}
}

func (p *progress) done() {
	k := p.k.Add(1)
	if k%p.step == 0 || k == p.n {
		p.mu.Lock()
		fmt.Fprintf(p.w, "%s %d/%d\n", p.what, k, p.n)
		p.mu.Unlock()
	}
}
