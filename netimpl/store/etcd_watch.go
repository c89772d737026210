package store

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/nslab/nslab/netimpl/store/internal/etcdv2"
)

// cached is a network or endpoint the watcher has reported as added.
type cached struct {
	raw []byte
	net *Network
	ep  *Endpoint
}

// watchRoot is what a watch follows: everything of Docker's networks.
var watchRoot = strings.TrimSuffix(root, "/")

// Watch implements Store. It lists the networks and endpoints at one index
// of the cluster, reports them, and then follows the changes from the next
// index, one long poll each, as Docker's etcd client does. When the member
// no longer holds the index it needs (it keeps the last 1000 changes: a
// watcher that was away for longer) it lists again and reports only the
// difference with what it had reported, deletions carrying the values it
// had seen, and follows on from after that list. A member that goes away
// makes it go on at the same index with another one.
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
		index, err := s.resync(ctx, seen, q)
		if err == nil {
			q.push(Event{Kind: Synced, Revision: index})
			s.follow(ctx, seen, index+1, q)
			wait = retryFirst
			continue
		}
		if !etcdv2.Sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, retryMax)
	}
}

// follow reports the changes from index next on until the member has
// cleared that index from its history or ctx ends.
func (s *Etcd) follow(ctx context.Context, seen map[string]cached, next uint64, q *watchQueue) {
	wait := retryFirst
	for ctx.Err() == nil {
		ev, err := s.cli.Wait(ctx, watchRoot, next, true)
		if errors.Is(err, etcdv2.ErrEventIndexCleared) {
			return
		}
		if err != nil {
			if !etcdv2.Sleep(ctx, wait) {
				return
			}
			wait = min(2*wait, retryMax)
			continue
		}
		wait = retryFirst
		s.apply(seen, ev, q)
		next = ev.Node.ModifiedIndex + 1
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
		ep, err := decodeEndpoint(key, val)
		if err != nil {
			return c, false
		}
		c.ep = &ep
	default:
		return c, false
	}
	return c, true
}

// apply reports one change. A directory deleted takes what was below it.
func (s *Etcd) apply(seen map[string]cached, ev *etcdv2.Response, q *watchQueue) {
	key, rev := ev.Node.Key, ev.Node.ModifiedIndex
	switch ev.Action {
	case "delete", "compareAndDelete", "expire":
		gone := []string{key}
		if ev.Node.Dir {
			gone = nil
			for k := range seen {
				if strings.HasPrefix(k, key+"/") {
					gone = append(gone, k)
				}
			}
			byKind(gone, false)
		}
		for _, k := range gone {
			if old, had := seen[k]; had {
				delete(seen, k)
				q.push(old.deleted(rev))
			}
		}
	default:
		if ev.Node.Dir {
			return
		}
		old, had := seen[key]
		c, ok := decode(key, []byte(ev.Node.Value))
		if !ok || (had && bytes.Equal(old.raw, c.raw)) {
			// Not ours, or the same value again.
			return
		}
		if had {
			q.push(old.deleted(rev))
		}
		seen[key] = c
		q.push(c.added(rev))
	}
}

// resync lists the networks and endpoints at one index and reports the
// difference with seen, which it then replaces: deletions first, endpoints
// before their networks; then additions, networks before their endpoints.
// It returns the index of the list.
func (s *Etcd) resync(ctx context.Context, seen map[string]cached, q *watchQueue) (uint64, error) {
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	now := map[string]cached{}
	r, err := s.kv.Get(octx, watchRoot, etcdv2.GetOptions{Recursive: true, Quorum: true})
	var index uint64
	var e *etcdv2.Error
	switch {
	case errors.As(err, &e) && e.Code == etcdv2.CodeKeyNotFound:
		index = e.Index // nothing of Docker's yet
	case err != nil:
		return 0, s.fail(ctx, "watch: list", err)
	default:
		index = r.Index
		walkNodes(r.Node, func(key, value string) error {
			if c, ok := decode(key, []byte(value)); ok {
				now[key] = c
			}
			return nil
		})
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
	byKind(gone, false)
	byKind(come, true)
	for _, k := range gone {
		q.push(seen[k].deleted(index))
		delete(seen, k)
	}
	for _, k := range come {
		seen[k] = now[k]
		q.push(now[k].added(index))
	}
	return index, nil
}

// byKind sorts keys networks first (or last), then by key: an endpoint
// never comes before its network nor outlives it in the order of events.
func byKind(keys []string, networksFirst bool) {
	sort.Slice(keys, func(i, j int) bool {
		ni, nj := strings.HasPrefix(keys[i], networkDir), strings.HasPrefix(keys[j], networkDir)
		if ni != nj {
			return ni == networksFirst
		}
		return keys[i] < keys[j]
	})
}

func (c cached) added(rev uint64) Event {
	if c.net != nil {
		return Event{Kind: NetworkAdded, Network: c.net.clone(), Revision: rev}
	}
	return Event{Kind: EndpointAdded, Endpoint: c.ep.clone(), Revision: rev}
}

func (c cached) deleted(rev uint64) Event {
	if c.net != nil {
		return Event{Kind: NetworkDeleted, Network: c.net.clone(), Revision: rev}
	}
	return Event{Kind: EndpointDeleted, Endpoint: c.ep.clone(), Revision: rev}
}
