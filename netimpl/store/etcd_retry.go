package store

import (
	"context"
	"errors"
	"time"

	"github.com/nslab/nslab/netimpl/store/internal/etcdv2"
)

// retryKV sends a request again, within its context, when the cluster
// answered that it could not serve it for a moment, where that is safe:
// a read after any such answer (raft could not serve it: a leader change
// in the middle of it; a leader election), a write only after "during
// leader election", which the member answers before it proposes anything.
// A write raft took but could not commit in time may still commit: sent
// again, a compare-and-swap of Docker's values could not tell its own
// write from an equal one of another host's (two hosts taking the same
// free address write the same bitmask), so such a write fails as the
// store being unavailable, as on Docker. The client itself goes on to
// another endpoint when one takes no connection.
type retryKV struct{ cli *etcdv2.Client }

// transientFirst and transientMax pace the retries.
const (
	transientFirst = 20 * time.Millisecond
	transientMax   = 400 * time.Millisecond
)

// transient says whether a read that failed with err may be sent again.
func transient(err error) bool {
	return errors.Is(err, etcdv2.ErrRaftInternal) || errors.Is(err, etcdv2.ErrLeaderElect)
}

// notProposed says whether a write that failed with err may be sent again:
// the member refused it before proposing it.
func notProposed(err error) bool { return errors.Is(err, etcdv2.ErrLeaderElect) }

// again runs do until it succeeds, fails for good (retry says which errors
// are not), or ctx ends; then it returns do's last answer.
func again[T any](ctx context.Context, retry func(error) bool, do func() (T, error)) (T, error) {
	wait := transientFirst
	for {
		r, err := do()
		if err == nil || !retry(err) || !sleep(ctx, wait) {
			return r, err
		}
		wait = min(2*wait, transientMax)
	}
}

func (k retryKV) Get(ctx context.Context, key string, o etcdv2.GetOptions) (*etcdv2.Response, error) {
	return again(ctx, transient, func() (*etcdv2.Response, error) { return k.cli.Get(ctx, key, o) })
}

func (k retryKV) Set(ctx context.Context, key, val string, o etcdv2.SetOptions) (*etcdv2.Response, error) {
	return again(ctx, notProposed, func() (*etcdv2.Response, error) { return k.cli.Set(ctx, key, val, o) })
}

func (k retryKV) Delete(ctx context.Context, key string, o etcdv2.DeleteOptions) (*etcdv2.Response, error) {
	return again(ctx, notProposed, func() (*etcdv2.Response, error) { return k.cli.Delete(ctx, key, o) })
}
