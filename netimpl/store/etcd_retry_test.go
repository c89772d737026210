package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/nslab/nslab/netimpl/store/internal/etcdv2"
)

// A read the cluster could not serve for a moment is sent again; a write
// only when the member refused it before proposing it; what it refused
// for good is not; retries end with the request's context.
func TestRetryTransient(t *testing.T) {
	calls := 0
	r, err := again(context.Background(), transient, func() (int, error) {
		calls++
		if calls < 3 {
			return 0, fmt.Errorf("get: %w", &etcdv2.Error{Code: etcdv2.CodeRaftInternal, Message: "Raft Internal Error", Cause: "etcdserver: leader changed"})
		}
		return 42, nil
	})
	if r != 42 || err != nil || calls != 3 {
		t.Errorf("a read during a leader change: got %d, %v after %d calls; want 42, nil after 3", r, err, calls)
	}
	calls = 0
	_, err = again(context.Background(), notProposed, func() (int, error) { calls++; return 0, etcdv2.ErrRaftInternal })
	if !errors.Is(err, etcdv2.ErrRaftInternal) || calls != 1 {
		t.Errorf("a write raft may have committed: %v after %d calls; want it after 1", err, calls)
	}
	calls = 0
	_, err = again(context.Background(), transient, func() (int, error) { calls++; return 0, etcdv2.ErrKeyNotFound })
	if !errors.Is(err, etcdv2.ErrKeyNotFound) || calls != 1 {
		t.Errorf("a lasting error: %v after %d calls; want it after 1", err, calls)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = again(ctx, notProposed, func() (int, error) { return 0, etcdv2.ErrLeaderElect })
	if !errors.Is(err, etcdv2.ErrLeaderElect) || time.Since(start) > time.Second {
		t.Errorf("an election until the deadline: %v after %v; want ErrLeaderElect within about 300ms", err, time.Since(start))
	}
	// What the cluster answers without a quorum, and what a request that
	// ran out of time gets, make the store unavailable; a missing key or a
	// mere string does not.
	for _, e := range []error{fmt.Errorf("set: %w", &etcdv2.Error{Code: etcdv2.CodeRaftInternal, Message: "Raft Internal Error", Cause: "etcdserver: request timed out"}),
		fmt.Errorf("get: %w", context.DeadlineExceeded)} {
		if !unavailable(e) {
			t.Errorf("%v: not unavailable", e)
		}
	}
	if unavailable(etcdv2.ErrKeyNotFound) || unavailable(errors.New("etcdserver: request timed out")) {
		t.Errorf("a missing key, or a mere string, taken as unavailable")
	}
}

// A quorum read a member never answers (it forwarded the proposal to a
// leader that stopped) is sent again after its try's time, and the new
// answer is the read's; with no answer at all the read ends with its
// context. The member here is an HTTP server on in-memory pipes.
func TestRetryReadNoAnswer(t *testing.T) {
	var mu sync.Mutex
	calls, answerFrom := 0, 2
	gone := make(chan struct{})
	defer close(gone)
	count := func() int { mu.Lock(); defer mu.Unlock(); return calls }
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n < answerFrom {
			select { // no answer: the client gives up first
			case <-r.Context().Done():
			case <-gone:
			}
			return
		}
		w.Header().Set("X-Etcd-Index", "7")
		fmt.Fprint(w, `{"action":"get","node":{"key":"/k","value":"v","modifiedIndex":7,"createdIndex":7}}`)
	})
	ln := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	srv := &http.Server{Handler: handler}
	go srv.Serve(ln)
	defer srv.Close()
	cli, err := etcdv2.New(etcdv2.Config{Endpoints: []string{"http://192.0.2.1:2379"}, DialContext: ln.dial})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	kv := retryKV{cli: cli, readTry: 200 * time.Millisecond}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	r, err := kv.Get(ctx, "/k", etcdv2.GetOptions{Quorum: true})
	if err != nil || r.Node == nil || r.Node.Value != "v" || count() != 2 || time.Since(start) > time.Second {
		t.Errorf("read unanswered once: %+v, %v after %d calls in %v; want v after 2 calls in about 200ms", r, err, count(), time.Since(start))
	}

	mu.Lock()
	calls, answerFrom = 0, 1<<30
	mu.Unlock()
	ctx, cancel = context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = kv.Get(ctx, "/k", etcdv2.GetOptions{Quorum: true})
	if !errors.Is(err, context.DeadlineExceeded) || count() < 3 || time.Since(start) > 1500*time.Millisecond {
		t.Errorf("read never answered: %v after %d calls in %v; want the deadline after 3 or more calls in about 700ms", err, count(), time.Since(start))
	}
}

// pipeListener hands the server the far ends of the client's pipes.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *pipeListener) dial(ctx context.Context, _ string) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 2379} }
