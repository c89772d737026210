package etcdmember

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"go.etcd.io/etcd/server/v3/embed"
)

// Member is a running etcd member.
type Member struct {
	cfg     Config
	etcd    *embed.Etcd
	closing chan struct{}
	once    sync.Once
	stopped chan struct{}
	err     error // why it stopped; written before stopped is closed
}

// Start starts the member and returns once it has joined its cluster: its
// attributes are committed through raft, which takes a quorum, so with two
// members Start returns only when the other one runs too. If ctx ends
// first, the member is closed and the context's error returned. ctx bounds
// the start only; the member runs until Close or a failure (see Stopped).
func Start(ctx context.Context, c Config) (*Member, error) {
	m, err := launch(ctx, c)
	if err != nil {
		return nil, err
	}
	select {
	case <-m.Ready():
		return m, nil
	case <-m.stopped:
		return nil, fmt.Errorf("etcd member %s: stopped before the cluster was ready: %w", m.cfg.Name, m.err)
	case <-ctx.Done():
		m.Close()
		return nil, fmt.Errorf("etcd member %s: cluster not ready: %w", m.cfg.Name, ctx.Err())
	}
}

// Launch validates c, opens the member's listeners and starts it without
// waiting for a quorum; Ready says when the cluster has formed. A daemon
// uses it when the other members are started by daemons that wait for it.
func Launch(c Config) (*Member, error) {
	return launch(context.Background(), c)
}

// launch is Launch with a context that can cut short the wait for earlier
// peers of a new cluster (see waitForEarlierPeers).
func launch(ctx context.Context, c Config) (*Member, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("etcd %w", err)
	}
	c.waitForEarlierPeers(ctx)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("etcd member %s: cluster not ready: %w", c.Name, err)
	}
	e, err := embed.StartEtcd(c.embed())
	if err != nil {
		return nil, fmt.Errorf("etcd member %s: start: %w", c.Name, err)
	}
	m := &Member{cfg: c, etcd: e, closing: make(chan struct{}), stopped: make(chan struct{})}
	go m.watch()
	return m, nil
}

// embed translates c, which has its defaults and is valid, into the
// embedded server's configuration: what `etcd --name ... --listen-peer-urls
// ... --initial-cluster ...` sets on a docker host's command line.
func (c Config) embed() *embed.Config {
	ec := embed.NewConfig()
	ec.Name = c.Name
	ec.Dir = c.DataDir
	peer := c.peerURL()
	ec.ListenPeerUrls = []url.URL{peer}
	ec.AdvertisePeerUrls = []url.URL{peer}
	ec.ListenClientUrls = c.listenClientURLs()
	ec.AdvertiseClientUrls = []url.URL{c.clientURL()}
	ec.InitialCluster = c.initialCluster()
	ec.InitialClusterToken = c.Token
	ec.ClusterState = c.State
	ec.TickMs = c.TickMs
	ec.ElectionMs = c.ElectionMs
	ec.EnableV2 = c.EnableV2
	// The v3 JSON gateway (POST /v3/kv/range and the like), etcd's
	// default, for clients that speak it; hostd's store speaks the v2 API,
	// as dockerd's --cluster-store does (EnableV2).
	ec.EnableGRPCGateway = true
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newLogger(c.Logger))
	return ec
}

// watch closes the server when the caller asks or when it fails on its own
// (a listener died, the member was removed from the cluster), and then
// tells Stopped.
func (m *Member) watch() {
	var err error
	select {
	case <-m.closing:
	case err = <-m.etcd.Err():
		if err == nil {
			err = errors.New("error channel closed")
		}
	case <-m.etcd.Server.StopNotify():
		err = errors.New("server stopped on its own (removed from the cluster, or a storage failure: see its log)")
	}
	select {
	case <-m.etcd.Server.ReadyNotify():
	default:
		// embed.Etcd.Close first waits for the client servers, which start
		// only once the member is ready or its server stopping (etcd 3.5):
		// a member that never got a quorum must have its server stopped
		// first, or Close waits forever.
		m.etcd.Server.HardStop()
	}
	m.etcd.Close()
	if err != nil {
		m.err = fmt.Errorf("etcd member %s: %w", m.cfg.Name, err)
	}
	close(m.stopped)
}

// Ready is closed once the member has joined its cluster (see Start).
func (m *Member) Ready() <-chan struct{} { return m.etcd.Server.ReadyNotify() }

// Stopped is closed when the member has stopped, by Close or on its own;
// Err then says why.
func (m *Member) Stopped() <-chan struct{} { return m.stopped }

// Err is nil while the member runs and after Close; after the member
// stopped on its own, it is the failure that stopped it.
func (m *Member) Err() error {
	select {
	case <-m.stopped:
		return m.err
	default:
		return nil
	}
}

// Close stops the member, its listeners and its server, and waits until
// they are gone; its data stays in DataDir for a restart. It returns the
// failure that had stopped the member before, if any. Close may be called
// more than once.
func (m *Member) Close() error {
	m.once.Do(func() { close(m.closing) })
	<-m.stopped
	return m.err
}

// ClientURLs are the URLs the member serves clients on: the advertised
// http://ADDR:2379 first, then http://127.0.0.1:2379 with Loopback.
func (m *Member) ClientURLs() []string {
	var urls []string
	for _, u := range m.cfg.listenClientURLs() {
		urls = append(urls, u.String())
	}
	return urls
}
