package etcdmember

import (
	"context"
	"net/http"
	"path/filepath"
	"sort"
	"time"

	"go.etcd.io/etcd/server/v3/wal"
)

// When a new cluster bootstraps, each fresh member first asks every peer's
// GET /members whether it was bootstrapped already (etcdserver's
// isMemberBootstrapped), with a one-second timeout per peer, after it has
// opened its own peer listener but before it serves it. Members started at
// the same moment therefore find each other listening but silent and each
// lose the full second. Going in the order of their names breaks the tie:
// a member waits (at most bootstrapWait) until every peer whose name sorts
// before its own answers on its peer URL, so that the peers it will ask are
// serving, and its own listener is not open yet while they ask it. The
// first member in that order never waits.

// bootstrapWait bounds the wait for earlier peers: never more than the
// second etcd itself would lose.
const bootstrapWait = time.Second

// waitForEarlierPeers applies the ordering above to a member that is about
// to bootstrap a new cluster from an empty data dir; it returns at once for
// anything else (a restart, a join, a cluster of one).
func (c Config) waitForEarlierPeers(ctx context.Context) {
	if c.State != StateNew || len(c.InitialCluster) < 2 || wal.Exist(filepath.Join(c.DataDir, "member", "wal")) {
		return
	}
	var earlier []string
	for name := range c.InitialCluster {
		if name < c.Name {
			earlier = append(earlier, name)
		}
	}
	if len(earlier) == 0 {
		return
	}
	sort.Strings(earlier)
	ctx, cancel := context.WithTimeout(ctx, bootstrapWait)
	defer cancel()
	// A zero Transport uses no proxy from the environment.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, name := range earlier {
		u := httpURL(c.InitialCluster[name], c.PeerPort)
		u.Path = "/members"
		for !peerServes(ctx, hc, u.String()) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// peerServes says whether an HTTP request to url got any answer within a
// short try: a listener that accepts but does not answer is a peer still
// in its own bootstrap check.
func peerServes(ctx context.Context, hc *http.Client, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}
