package store

import (
	"bytes"
	"context"
	"sort"
	"strings"

	"github.com/nslab/nslab/netimpl/store/internal/etcdv3"
)

// cached is a network or endpoint the watcher has reported as added.
type cached struct {
	raw []byte
	net *Network
	ep  *Endpoint
}

// Watch implements Store. It lists the networks and endpoints at one
// revision, reports them, and then follows etcd's watch from the next
// revision. When the watch breaks (the member lost its leader, which a
// watch that requires one is told; the history it needs was compacted;
// the connection to its member broke) it lists again and reports only the
// difference with what it had reported, deletions carrying the values it
// had seen, and follows on from the new revision.
func (s *Etcd) Watch(ctx context.Context) <-chan Event {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	q := newWatchQueue()
	out := q.run(ctx)
	go func() {
		defer stop()
		defer cancel()
		defer q.close()
		s.watchLoop(ctx, q)
	}()
	return out
}

func (s *Etcd) watchLoop(ctx context.Context, q *watchQueue) {
	seen := map[string]cached{}
	wait := retryFirst
	for ctx.Err() == nil {
		rev, err := s.resync(ctx, seen, q)
		if err == nil {
			q.push(Event{Kind: Synced, Revision: rev})
			if s.follow(ctx, seen, rev, q) {
				wait = retryFirst
				continue
			}
		}
		if !sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, retryMax)
	}
}

// follow reports the changes after revision rev until the watch breaks or
// ctx ends; it says whether the watch started. The watch requires a
// leader, so that a member that loses it ends the watch, and the watcher
// lists again from a member that has one.
func (s *Etcd) follow(ctx context.Context, seen map[string]cached, rev int64, q *watchQueue) bool {
	w, err := s.cli.Watch(etcdv3.WithRequireLeader(ctx), etcdv3.WatchCreateRequest{
		Key: []byte(root), RangeEnd: etcdv3.PrefixEnd([]byte(root)), StartRevision: rev + 1,
	})
	if err != nil {
		return false
	}
	defer w.Close()
	for {
		resp, err := w.Recv()
		if err != nil || resp.Err() != nil {
			return true
		}
		for _, ev := range resp.Events {
			s.apply(seen, ev, resp.Header.Revision, q)
		}
	}
}

// decode reads a network or endpoint key; ok is false for other keys and
// for values that do not decode.
func decode(key string, val []byte) (c cached, ok bool) {
	c.raw = bytes.Clone(val)
	switch {
	case strings.HasPrefix(key, networkDir) && validID(strings.TrimPrefix(key, networkDir)):
		n, err := decodeNetwork(val)
		if err != nil {
			return c, false
		}
		c.net = &n
	case strings.HasPrefix(key, endpointDir):
		if _, _, ok := endpointIDs(key); !ok {
			return c, false
		}
		ep, err := decodeEndpoint(val)
		if err != nil {
			return c, false
		}
		c.ep = &ep
	default:
		return c, false
	}
	return c, true
}

// apply reports one change of the watch.
func (s *Etcd) apply(seen map[string]cached, ev *etcdv3.Event, rev int64, q *watchQueue) {
	key := string(ev.Kv.Key)
	old, had := seen[key]
	switch ev.Type {
	case etcdv3.EventPut:
		c, ok := decode(key, ev.Kv.Value)
		if !ok || (had && bytes.Equal(old.raw, c.raw)) {
			// Not ours, or the same value again (a host writing its keys
			// under a new lease).
			return
		}
		if had {
			q.push(old.deleted(rev))
		}
		seen[key] = c
		q.push(c.added(rev))
	case etcdv3.EventDelete:
		if had {
			delete(seen, key)
			q.push(old.deleted(rev))
		}
	}
}

// resync lists the networks and endpoints at one revision and reports the
// difference with seen, which it then replaces: deletions first, endpoints
// before their networks; then additions, networks before their endpoints.
func (s *Etcd) resync(ctx context.Context, seen map[string]cached, q *watchQueue) (int64, error) {
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.kv.Txn(octx, etcdv3.TxnRequest{Success: []etcdv3.RequestOp{
		etcdv3.OpGet(networkDir, etcdv3.WithPrefix()),
		etcdv3.OpGet(endpointDir, etcdv3.WithPrefix()),
	}})
	if err != nil {
		return 0, s.fail(ctx, "watch: list", err)
	}
	rev := resp.Header.Revision
	now := map[string]cached{}
	for _, r := range ranges(resp) {
		for _, kv := range r.Kvs {
			if c, ok := decode(string(kv.Key), kv.Value); ok {
				now[string(kv.Key)] = c
			}
		}
	}
	var gone, come []string
	for k, c := range seen {
		if n, ok := now[k]; !ok || !bytes.Equal(n.raw, c.raw) {
			gone = append(gone, k)
		}
	}
	for k, c := range now {
		if o, ok := seen[k]; !ok || !bytes.Equal(o.raw, c.raw) {
			come = append(come, k)
		}
	}
	// By kind first: an endpoint never comes before its network nor
	// outlives it in the order of events.
	byKind := func(keys []string, networksFirst bool) {
		sort.Slice(keys, func(i, j int) bool {
			ni, nj := strings.HasPrefix(keys[i], networkDir), strings.HasPrefix(keys[j], networkDir)
			if ni != nj {
				return ni == networksFirst
			}
			return keys[i] < keys[j]
		})
	}
	byKind(gone, false)
	byKind(come, true)
	for _, k := range gone {
		q.push(seen[k].deleted(rev))
		delete(seen, k)
	}
	for _, k := range come {
		seen[k] = now[k]
		q.push(now[k].added(rev))
	}
	return rev, nil
}

func (c cached) added(rev int64) Event {
	if c.net != nil {
		return Event{Kind: NetworkAdded, Network: c.net.clone(), Revision: rev}
	}
	return Event{Kind: EndpointAdded, Endpoint: c.ep.clone(), Revision: rev}
}

func (c cached) deleted(rev int64) Event {
	if c.net != nil {
		return Event{Kind: NetworkDeleted, Network: c.net.clone(), Revision: rev}
	}
	return Event{Kind: EndpointDeleted, Endpoint: c.ep.clone(), Revision: rev}
}
