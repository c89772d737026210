package store

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// retryKV sends each request again, within its context, when the cluster
// answered that it could not serve it for a moment: a leader change in
// the middle of it, or no leader yet after a member left. etcd's client
// retries only reads, and only on a broken connection; a transaction
// asked just as the leader stops would fail although two of three members
// are there. The store's transactions compare before they write, so one
// that did commit before the error comes back through its Else branch.
type retryKV struct{ clientv3.KV }

// transientFirst and transientMax pace the retries.
const (
	transientFirst = 20 * time.Millisecond
	transientMax   = 400 * time.Millisecond
)

// transient says whether err is the cluster's "not now".
func transient(err error) bool {
	for _, t := range []error{rpctypes.ErrLeaderChanged, rpctypes.ErrNoLeader,
		rpctypes.ErrTimeoutDueToLeaderFail, rpctypes.ErrTimeoutDueToConnectionLost} {
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

func (k retryKV) Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	return again(ctx, func() (*clientv3.GetResponse, error) { return k.KV.Get(ctx, key, opts...) })
}

func (k retryKV) Put(ctx context.Context, key, val string, opts ...clientv3.OpOption) (*clientv3.PutResponse, error) {
	return again(ctx, func() (*clientv3.PutResponse, error) { return k.KV.Put(ctx, key, val, opts...) })
}

func (k retryKV) Delete(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.DeleteResponse, error) {
	return again(ctx, func() (*clientv3.DeleteResponse, error) { return k.KV.Delete(ctx, key, opts...) })
}

func (k retryKV) Txn(ctx context.Context) clientv3.Txn { return &retryTxn{kv: k.KV, ctx: ctx} }

// retryTxn records a transaction so that Commit can send it again.
type retryTxn struct {
	kv        clientv3.KV
	ctx       context.Context
	cmps      []clientv3.Cmp
	then, els []clientv3.Op
}

func (t *retryTxn) If(cs ...clientv3.Cmp) clientv3.Txn {
	t.cmps = append(t.cmps, cs...)
	return t
}

func (t *retryTxn) Then(ops ...clientv3.Op) clientv3.Txn {
	t.then = append(t.then, ops...)
	return t
}

func (t *retryTxn) Else(ops ...clientv3.Op) clientv3.Txn {
	t.els = append(t.els, ops...)
	return t
}

func (t *retryTxn) Commit() (*clientv3.TxnResponse, error) {
	return again(t.ctx, func() (*clientv3.TxnResponse, error) {
		return t.kv.Txn(t.ctx).If(t.cmps...).Then(t.then...).Else(t.els...).Commit()
	})
}
