package store

import (
	"context"
	"sync"
)

// watchQueue holds a watch's events until its consumer takes them, so that
// a slow consumer never stalls the store (Local sends under its lock) nor
// the etcd watch stream. It is unbounded: a consumer that stops reading
// must end its context.
type watchQueue struct {
	mu     sync.Mutex
	events []Event
	closed bool
	wake   chan struct{}
	done   chan struct{} // closed when the consumer's channel is
}

func newWatchQueue() *watchQueue {
	return &watchQueue{wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (q *watchQueue) push(ev Event) {
	q.mu.Lock()
	if !q.closed {
		q.events = append(q.events, ev)
	}
	q.mu.Unlock()
	q.signal()
}

// close lets the consumer take what is queued, then closes its channel.
func (q *watchQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *watchQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run delivers the queue on a channel until close or ctx ends.
func (q *watchQueue) run(ctx context.Context) <-chan Event {
	out := make(chan Event)
	go func() {
		defer close(q.done)
		defer close(out)
		for {
			q.mu.Lock()
			batch, closed := q.events, q.closed
			q.events = nil
			q.mu.Unlock()
			for _, ev := range batch {
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
			if closed && len(batch) == 0 {
				return
			}
			if len(batch) > 0 {
				continue // more may have come while delivering
			}
			select {
			case <-q.wake:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
