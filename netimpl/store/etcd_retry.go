package store

import (
	"context"
	"errors"
	"time"

	"github.com/nslab/nslab/netimpl/store/internal/etcdv3"
)

// retryKV sends each request again, within its context, when the cluster
// answered that it could not serve it for a moment: a leader change in
// the middle of it, or no leader yet after a member left. The client
// itself goes on to another endpoint only when one takes no connection; a
// transaction asked just as the leader stops would fail although two of
// three members are there. The store's transactions compare before they
// write, so one that did commit before the error comes back through its
// Else branch.
type retryKV struct{ cli *etcdv3.Client }

// transientFirst and transientMax pace the retries.
const (
	transientFirst = 20 * time.Millisecond
	transientMax   = 400 * time.Millisecond
)

// transient says whether err is the cluster's "not now".
func transient(err error) bool {
	for _, t := range []error{etcdv3.ErrLeaderChanged, etcdv3.ErrNoLeader,
		etcdv3.ErrTimeoutDueToLeaderFail, etcdv3.ErrTimeoutDueToConnectionLost} {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// again runs do until it succeeds, fails for good, or ctx ends; then it
// returns do's last answer.
func again[T any](ctx context.Context, do func() (T, error)) (T, error) {
	wait := transientFirst
	for {
		r, err := do()
		if err == nil || !transient(err) || !sleep(ctx, wait) {
			return r, err
		}
		wait = min(2*wait, transientMax)
	}
}

func (k retryKV) Get(ctx context.Context, key string, opts ...etcdv3.OpOption) (*etcdv3.RangeResponse, error) {
	return again(ctx, func() (*etcdv3.RangeResponse, error) { return k.cli.Get(ctx, key, opts...) })
}

func (k retryKV) Put(ctx context.Context, key, val string, opts ...etcdv3.OpOption) (*etcdv3.PutResponse, error) {
	return again(ctx, func() (*etcdv3.PutResponse, error) { return k.cli.Put(ctx, key, val, opts...) })
}

func (k retryKV) Delete(ctx context.Context, key string, opts ...etcdv3.OpOption) (*etcdv3.DeleteRangeResponse, error) {
	return again(ctx, func() (*etcdv3.DeleteRangeResponse, error) { return k.cli.Delete(ctx, key, opts...) })
}

func (k retryKV) Txn(ctx context.Context, t etcdv3.TxnRequest) (*etcdv3.TxnResponse, error) {
	return again(ctx, func() (*etcdv3.TxnResponse, error) { return k.cli.Txn(ctx, t) })
}
