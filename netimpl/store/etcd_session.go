package store

import (
	"context"
	"fmt"
	"time"

	"github.com/nslab/nslab/netimpl/store/internal/etcdv3"
)

// Retry pauses of the background loops while the cluster is away.
const (
	retryFirst = 50 * time.Millisecond
	retryMax   = time.Second
)

// session keeps the host's lease: it grants one (retrying while there is
// no quorum), writes the node key and every owned key under it, and
// renews it until it gives up on it (no renewal for a whole TTL, or the
// cluster says it expired); then it starts over.
func (s *Etcd) session() {
	defer close(s.done)
	wait := retryFirst
	for s.ctx.Err() == nil {
		granted := time.Now()
		id, ttl, err := s.grant()
		if err == nil {
			err = s.register(id)
		}
		if err != nil {
			if !sleep(s.ctx, wait) {
				return
			}
			wait = min(2*wait, retryMax)
			continue
		}
		wait = retryFirst
		s.setLease(id)
		s.keepAlive(id, granted.Add(ttl))
		s.setLease(0)
	}
}

// keepAliveRetry paces the renewals that failed, as etcd's client does.
const keepAliveRetry = 500 * time.Millisecond

// keepAlive renews lease id every third of its TTL, as etcd's client
// does, until the cluster says the lease is gone, no renewal succeeded
// before expires (the cluster may have let it expire: a new lease is
// safer than one that may be gone), or the store closes.
func (s *Etcd) keepAlive(id etcdv3.LeaseID, expires time.Time) {
	next := time.Now().Add(time.Until(expires) / 3)
	for sleep(s.ctx, time.Until(next)) {
		// A renewal has until the lease would expire, and at most an
		// operation's time; a member without a leader refuses at once.
		deadline := time.Now().Add(s.cfg.OpTimeout)
		if expires.Before(deadline) {
			deadline = expires
		}
		ctx, cancel := context.WithDeadline(etcdv3.WithRequireLeader(s.ctx), deadline)
		resp, err := s.cli.KeepAliveOnce(ctx, id)
		cancel()
		now := time.Now()
		switch {
		case err == nil && resp.TTL <= 0:
			return
		case err == nil:
			ttl := time.Duration(resp.TTL) * time.Second
			expires, next = now.Add(ttl), now.Add(ttl/3)
		case !now.Before(expires):
			return
		default:
			next = now.Add(keepAliveRetry)
		}
	}
}

// grant asks for a lease of LeaseTTL, in whole seconds; it returns the
// lease and the TTL the cluster gave it.
func (s *Etcd) grant() (etcdv3.LeaseID, time.Duration, error) {
	ctx, cancel := s.opCtx(s.ctx)
	defer cancel()
	resp, err := s.cli.Grant(ctx, int64((s.cfg.LeaseTTL+time.Second-1)/time.Second))
	if err != nil {
		return 0, 0, s.fail(s.ctx, "grant lease", err)
	}
	return resp.ID, time.Duration(resp.TTL) * time.Second, nil
}

// register writes the node key, then every owned key, under lease id. An
// owned key of a network that is gone is dropped instead.
func (s *Etcd) register(id etcdv3.LeaseID) error {
	ctx, cancel := s.opCtx(s.ctx)
	defer cancel()
	advertise := s.cfg.Host.Advertise.String()
	if _, err := s.kv.Put(ctx, nodeKey(s.cfg.Host.Advertise), advertise, etcdv3.WithLease(id)); err != nil {
		return s.fail(s.ctx, "register host "+s.cfg.Host.Name, err)
	}
	s.mu.Lock()
	owned := make(map[string]ownedKey, len(s.owned))
	for k, v := range s.owned {
		owned[k] = v
	}
	s.mu.Unlock()
	for k, o := range owned {
		resp, err := s.kv.Txn(ctx, etcdv3.TxnRequest{
			Compare: []etcdv3.Compare{etcdv3.CompareCreate(networkKey(o.networkID), etcdv3.Greater, 0)},
			Success: []etcdv3.RequestOp{etcdv3.OpPut(k, o.value, etcdv3.WithLease(id))},
		})
		if err != nil {
			return s.fail(s.ctx, fmt.Sprintf("host %s: write %s again", s.cfg.Host.Name, k), err)
		}
		if !resp.Succeeded {
			s.disown(k)
		}
	}
	return nil
}

// sleep waits d unless ctx ends first; it reports whether to go on.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
