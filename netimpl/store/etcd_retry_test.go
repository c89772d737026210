package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nslab/nslab/netimpl/store/internal/etcdv3"
)

// A request the cluster could not serve for a moment (its leader changed)
// is sent again; one it refused for good is not; retries end with the
// request's context.
func TestRetryTransient(t *testing.T) {
	calls := 0
	r, err := again(context.Background(), func() (int, error) {
		calls++
		if calls < 3 {
			return 0, etcdv3.ErrLeaderChanged
		}
		return 42, nil
	})
	if r != 42 || err != nil || calls != 3 {
		t.Errorf("leader changed twice: got %d, %v after %d calls; want 42, nil after 3", r, err, calls)
	}

	calls = 0
	_, err = again(context.Background(), func() (int, error) { calls++; return 0, etcdv3.ErrLeaseNotFound })
	if !errors.Is(err, etcdv3.ErrLeaseNotFound) || calls != 1 {
		t.Errorf("a lasting error: %v after %d calls; want it after 1", err, calls)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = again(ctx, func() (int, error) { return 0, etcdv3.ErrNoLeader })
	if !errors.Is(err, etcdv3.ErrNoLeader) || time.Since(start) > time.Second {
		t.Errorf("no leader until the deadline: %v after %v; want ErrNoLeader within about 300ms", err, time.Since(start))
	}
	// The errors as they come off the wire: new values with etcd's code
	// and message, wrapped by the caller.
	for _, msg := range []string{"etcdserver: leader changed", "etcdserver: no leader",
		"etcdserver: request timed out, possibly due to previous leader failure",
		"etcdserver: request timed out, possibly due to connection lost"} {
		e := fmt.Errorf("txn: %w", &etcdv3.Error{Code: etcdv3.CodeUnavailable, Message: msg})
		if !transient(e) {
			t.Errorf("%v: not transient", e)
		}
		if !unavailable(e) {
			t.Errorf("%v: not unavailable", e)
		}
	}
	if transient(context.DeadlineExceeded) || transient(etcdv3.ErrCompacted) || transient(etcdv3.ErrLeaseNotFound) {
		t.Errorf("deadline, compaction or a missing lease taken as transient")
	}
	if unavailable(etcdv3.ErrLeaseNotFound) || unavailable(errors.New("etcdserver: no leader")) {
		t.Errorf("a missing lease, or a mere string, taken as unavailable")
	}
}
