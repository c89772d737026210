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
// in the middle of it; a leader election) or after no answer within its
// try's time, a write only after "during leader election", which the
// member answers before it proposes anything.
// A write raft took but could not commit in time may still commit: sent
// again, a compare-and-swap of Docker's values could not tell its own
// write from an equal one of another host's (two hosts taking the same
// free address write the same bitmask), so such a write fails as the
// store being unavailable, as on Docker. The client itself goes on to
// another endpoint when one takes no connection.
type retryKV struct {
	cli *etcdv2.Client
	// readTry bounds one try of a read. A quorum read is a raft proposal
	// as a write is: a member forwards it to the leader it knows, and one
	// that stops takes it along; the member answers only when its own
	// timeout of seconds runs out, when a new leader has long answered the
	// same read sent again.
	readTry time.Duration
}

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
		if err == nil || !retry(err) || !etcdv2.Sleep(ctx, wait) {
			return r, err
		}
		wait = min(2*wait, transientMax)
	}
}

func (k retryKV) Get(ctx context.Context, key string, o etcdv2.GetOptions) (*etcdv2.Response, error) {
	retry := func(err error) bool {
		return transient(err) || ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded)
	}
	return again(ctx, retry, func() (*etcdv2.Response, error) {
		tctx, cancel := context.WithTimeout(ctx, k.readTry)
		defer cancel()
		return k.cli.Get(tctx, key, o)
	})
}

func (k retryKV) Set(ctx context.Context, key, val string, o etcdv2.SetOptions) (*etcdv2.Response, error) {
	return again(ctx, notProposed, func() (*etcdv2.Response, error) { return k.cli.Set(ctx, key, val, o) })
}

func (k retryKV) Delete(ctx context.Context, key string, o etcdv2.DeleteOptions) (*etcdv2.Response, error) {
	return again(ctx, notProposed, func() (*etcdv2.Response, error) { return k.cli.Delete(ctx, key, o) })
}

// A write gets half an operation's time per try. One the member could not
// commit in that time (it lost its leader with it: a leader that stops
// takes the writes forwarded to it along, and the member says so only when
// its own timeout of seconds runs out) is sent again if the key shows it
// did not land, while the other half of the operation's time lasts.
// Where the key has changed it is not sent again: a create finds its own
// value (its keys' values are unique), a compare-and-swap reports the
// conflict and its caller reads again; a write that landed late then costs
// at most a bit of a bitmask or a count too high, never a bit taken twice.

// set is a write of key with o's conditions, tried again as above.
func (s *Etcd) set(ctx context.Context, key, value string, o etcdv2.SetOptions) error {
	write := func(ctx context.Context) error { _, err := s.kv.Set(ctx, key, value, o); return err }
	return s.tryLanded(ctx, key, write, func(node *etcdv2.Node) (bool, error) {
		switch {
		case o.PrevExist == etcdv2.PrevNoExist && node != nil && (o.Dir || node.Value == value):
			return false, nil // it landed
		case o.PrevExist == etcdv2.PrevNoExist && node == nil,
			o.PrevIndex != 0 && node != nil && node.ModifiedIndex == o.PrevIndex,
			o.PrevIndex == 0 && o.PrevExist == etcdv2.PrevIgnore:
			return true, nil // it did not land, or landing twice is the same
		case o.PrevIndex != 0 && node == nil:
			return false, etcdv2.ErrKeyNotFound
		}
		return false, etcdv2.ErrTestFailed
	})
}

// del deletes key with o's condition, tried again as above.
func (s *Etcd) del(ctx context.Context, key string, o etcdv2.DeleteOptions) error {
	write := func(ctx context.Context) error { _, err := s.kv.Delete(ctx, key, o); return err }
	return s.tryLanded(ctx, key, write, func(node *etcdv2.Node) (bool, error) {
		switch {
		case node == nil:
			return false, nil // it landed
		case o.PrevIndex == 0 || node.ModifiedIndex == o.PrevIndex:
			return true, nil
		}
		return false, etcdv2.ErrTestFailed
	})
}

// tryLanded runs write with half an operation's time a try; after a try
// that got no answer in time, landed reads key as it is now and says
// whether to send the write again, or what the write's outcome is.
func (s *Etcd) tryLanded(ctx context.Context, key string, write func(context.Context) error, landed func(*etcdv2.Node) (bool, error)) error {
	for {
		actx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout/2)
		err := write(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		node, gerr := s.get(ctx, key)
		if gerr != nil {
			return err
		}
		if again, out := landed(node); !again {
			return out
		}
	}
}
