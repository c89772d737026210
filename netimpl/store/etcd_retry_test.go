package store

import (
	"context"
	"errors"
	"fmt"
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
