package store

import (
	"context"
	"errors"
	"time"

	"github.com/nslab/nslab/netimpl/store/internal/etcdv2"
)

// Retry pauses of the background loops while the cluster is away.
const (
	retryFirst = 50 * time.Millisecond
	retryMax   = time.Second
)

// heartbeat is the host's part of Docker's discovery: it makes the two
// directories a daemon lists when it starts (network/ and endpoint_count/),
// then writes the host's node key, /docker/nodes/<advertise> = advertise,
// with a TTL of NodeTTL every NodeHeartbeat (and again soon after a write
// that failed), until the store closes. A host that stops writing it
// leaves the cluster's node list a TTL later; its endpoints stay.
func (s *Etcd) heartbeat() {
	if !s.untilDone(s.startDirs) {
		return
	}
	key, adv := nodeKey(s.cfg.Host.Advertise), s.cfg.Host.Advertise.String()
	for {
		if !s.untilDone(func(ctx context.Context) error {
			return s.set(ctx, key, adv, etcdv2.SetOptions{TTL: s.cfg.NodeTTL})
		}) {
			return
		}
		if !etcdv2.Sleep(s.ctx, s.cfg.NodeHeartbeat) {
			return
		}
	}
}

// startDirs makes the directories dockerd's libnetwork lists at start.
func (s *Etcd) startDirs(ctx context.Context) error {
	for _, d := range []string{networkDir, endpointCountDir} {
		if err := s.ensureDir(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// ensureDir makes a directory unless it exists.
func (s *Etcd) ensureDir(ctx context.Context, dir string) error {
	err := s.set(ctx, dir, "", etcdv2.SetOptions{Dir: true, PrevExist: etcdv2.PrevNoExist})
	if errors.Is(err, etcdv2.ErrNodeExist) {
		return nil
	}
	return err
}

// EnsureEndpointDirs makes the endpoint directory of each network, unless
// it exists: dockerd's libnetwork makes it whenever it lists a network's
// endpoints, which it does when a local endpoint joins the network, local
// networks included, and, for every network of the host, on each `docker
// network inspect` (GET /networks/{id}).
func (s *Etcd) EnsureEndpointDirs(ctx context.Context, networkIDs ...string) error {
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	for _, id := range networkIDs {
		if !validID(id) {
			continue
		}
		dir := endpointNetDir(id)
		s.mu.Lock()
		known := s.dirs[dir]
		s.mu.Unlock()
		if known {
			continue
		}
		if err := s.ensureDir(octx, dir); err != nil {
			return s.fail(ctx, "network "+id+": endpoint directory", err)
		}
		s.mu.Lock()
		s.dirs[dir] = true
		s.mu.Unlock()
	}
	return nil
}
