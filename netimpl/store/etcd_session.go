package store

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Retry pauses of the background loops while the cluster is away.
const (
	retryFirst = 50 * time.Millisecond
	retryMax   = time.Second
)

// session keeps the host's lease: it grants one (retrying while there is
// no quorum), writes the node key and every owned key under it, and
// renews it until the client gives up on it (no answer for a whole TTL,
// or the cluster says it expired); then it starts over.
func (s *Etcd) session() {
	defer close(s.done)
	wait := retryFirst
	for s.ctx.Err() == nil {
		id, err := s.grant()
		if err == nil {
			err = s.register(id)
		}
		var ka <-chan *clientv3.LeaseKeepAliveResponse
		if err == nil {
			ka, err = s.cli.KeepAlive(s.ctx, id)
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
		for range ka {
		}
		s.setLease(0)
	}
}

func (s *Etcd) grant() (clientv3.LeaseID, error) {
	ctx, cancel := s.opCtx(s.ctx)
	defer cancel()
	resp, err := s.cli.Grant(ctx, int64((s.cfg.LeaseTTL+time.Second-1)/time.Second))
	if err != nil {
		return 0, s.fail(s.ctx, "grant lease", err)
	}
	return resp.ID, nil
}

// register writes the node key, then every owned key, under lease id. An
// owned key of a network that is gone is dropped instead.
func (s *Etcd) register(id clientv3.LeaseID) error {
	ctx, cancel := s.opCtx(s.ctx)
	defer cancel()
	advertise := s.cfg.Host.Advertise.String()
	if _, err := s.cli.Put(ctx, nodeKey(s.cfg.Host.Advertise), advertise, clientv3.WithLease(id)); err != nil {
		return s.fail(s.ctx, "register host "+s.cfg.Host.Name, err)
	}
	s.mu.Lock()
	owned := make(map[string]ownedKey, len(s.owned))
	for k, v := range s.owned {
		owned[k] = v
	}
	s.mu.Unlock()
	for k, o := range owned {
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(networkKey(o.networkID)), ">", 0)).
			Then(clientv3.OpPut(k, o.value, clientv3.WithLease(id))).
			Commit()
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
