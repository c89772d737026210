package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// A request the cluster could not serve for a moment (its leader changed)
// is sent again; one it refused for good is not; retries end with the
// request's context.
func TestRetryTransient(t *testing.T) {
	calls := 0
	r, err := again(context.Background(), func() (int, error) {
		calls++
		if calls < 3 {
			return 0, rpctypes.ErrLeaderChanged
		}
		return 42, nil
	})
	if r != 42 || err != nil || calls != 3 {
		t.Errorf("leader changed twice: got %d, %v after %d calls; want 42, nil after 3", r, err, calls)
	}

	calls = 0
	_, err = again(context.Background(), func() (int, error) { calls++; return 0, rpctypes.ErrKeyNotFound })
	if !errors.Is(err, rpctypes.ErrKeyNotFound) || calls != 1 {
		t.Errorf("a lasting error: %v after %d calls; want it after 1", err, calls)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = again(ctx, func() (int, error) { return 0, rpctypes.ErrNoLeader })
	if !errors.Is(err, rpctypes.ErrNoLeader) || time.Since(start) > time.Second {
		t.Errorf("no leader until the deadline: %v after %v; want ErrNoLeader within about 300ms", err, time.Since(start))
	}
	for _, e := range []error{rpctypes.ErrLeaderChanged, rpctypes.ErrNoLeader, rpctypes.ErrTimeoutDueToLeaderFail} {
		if !transient(e) {
			t.Errorf("%v: not transient", e)
		}
	}
	if transient(context.DeadlineExceeded) || transient(rpctypes.ErrCompacted) {
		t.Errorf("deadline or compaction taken as transient")
	}
}
