package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/nslab/nslab/netimpl/store/internal/etcdv2"
)

// Defaults of an Etcd store.
const (
	// DefaultOpTimeout bounds every operation: a member without a quorum
	// holds a request for seconds before it says so, and the operation
	// gives up first.
	DefaultOpTimeout = 2 * time.Second
	// DefaultNodeTTL and DefaultNodeHeartbeat are Docker's discovery
	// defaults: a host's /docker/nodes key lives 60 s and is written again
	// every 20 s.
	DefaultNodeTTL       = 60 * time.Second
	DefaultNodeHeartbeat = 20 * time.Second
)

// EtcdConfig configures an Etcd store.
type EtcdConfig struct {
	// Endpoints are the members' client URLs, like dockerd's
	// --cluster-store=etcd://IP:2379 ("http://IP:2379").
	Endpoints []string
	// Host is the host this client writes for.
	Host Host
	// DialContext opens the client's connections. Nil is the default
	// dialer, in the namespace of the calling process: right for hostd,
	// which runs in its host's namespace. A process elsewhere (a test)
	// dials through the host's namespace with netns/probe.DialContext.
	DialContext func(ctx context.Context, addr string) (net.Conn, error)
	// OpTimeout bounds each operation (default DefaultOpTimeout).
	OpTimeout time.Duration
	// NodeTTL and NodeHeartbeat are the TTL of the host's node key and how
	// often it is written (defaults DefaultNodeTTL, DefaultNodeHeartbeat).
	NodeTTL, NodeHeartbeat time.Duration
	// AutoSync, when set, makes the client learn the cluster's members'
	// client URLs every AutoSync, as Docker's etcd client does: a host
	// whose own member is down still reaches the others.
	AutoSync time.Duration
}

// Etcd is the store on an etcd cluster's v2 key space. In the background it
// keeps the host's node key, as Docker's discovery does.
type Etcd struct {
	cfg EtcdConfig
	cli *etcdv2.Client
	kv  retryKV // cli, with the retries of etcd_retry.go

	ctx    context.Context // ends with Close: the heartbeat and the watches
	cancel context.CancelFunc
	done   sync.WaitGroup // the background loops

	mu sync.Mutex
	// nextPool and nextVNI are where this client's next search for a
	// subnet and a VXLAN id starts: after what it took last, as a
	// daemon's libnetwork keeps them, in memory; pools is what it last
	// read of the pools.
	nextPool int
	nextVNI  uint64
	pools    *poolSpace
	// endpoints and addresses are what this client published and took,
	// for Close to withdraw.
	endpoints map[string]Endpoint // by endpoint key
	addresses map[string]netip.Addr
	// dirs are the endpoint directories known to exist.
	dirs map[string]bool

	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*Etcd)(nil)

// OpenEtcd makes the client and starts the host's heartbeat in the
// background. It needs no quorum.
func OpenEtcd(cfg EtcdConfig) (*Etcd, error) {
	if err := cfg.Host.check(); err != nil {
		return nil, err
	}
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("store: no etcd endpoints")
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = DefaultOpTimeout
	}
	if cfg.NodeTTL <= 0 {
		cfg.NodeTTL = DefaultNodeTTL
	}
	if cfg.NodeHeartbeat <= 0 {
		cfg.NodeHeartbeat = DefaultNodeHeartbeat
	}
	cli, err := etcdv2.New(etcdv2.Config{
		Endpoints:   cfg.Endpoints,
		DialContext: cfg.DialContext,
		// Half the operation's time: a member that does not take the
		// connection leaves the other half to the next one.
		DialTimeout: cfg.OpTimeout / 2,
	})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Etcd{
		cfg: cfg, cli: cli, kv: retryKV{cli: cli, readTry: cfg.OpTimeout / 2}, ctx: ctx, cancel: cancel,
		endpoints: map[string]Endpoint{}, addresses: map[string]netip.Addr{}, dirs: map[string]bool{},
	}
	s.background(s.heartbeat)
	if cfg.AutoSync > 0 {
		synced := s.firstSync()
		s.background(func() { s.autoSync(synced) })
	}
	return s, nil
}

func (s *Etcd) background(loop func()) {
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		loop()
	}()
}

// firstSync learns the members' client URLs before OpenEtcd returns, for
// at most a dial's time (half an operation's): until the list names every
// member, or a sync fails (a member that is not running refuses at once).
// Docker's client syncs in the background too, but dockerd starts for long
// enough after it that its API answers with the members known; without
// this a daemon that starts in milliseconds, and whose own member stops
// just after, could know no other member (E23). A member that has just
// joined may not name the others yet (their starts, committed, not yet
// applied on it): a few tries, from 50 ms apart, see them.
func (s *Etcd) firstSync() (synced bool) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.OpTimeout/2)
	defer cancel()
	for wait := retryFirst; ; wait = min(2*wait, retryMax) {
		all, err := s.cli.SyncAll(ctx)
		if err != nil {
			return synced
		}
		synced = true
		if all || !etcdv2.Sleep(ctx, wait) {
			return true
		}
	}
}

// autoSync learns the members' client URLs, retrying until it can unless
// synced says it has (a member that stops early would leave the client
// with none but its own), and then again every AutoSync, as Docker's etcd
// client does.
func (s *Etcd) autoSync(synced bool) {
	if !synced && !s.untilDone(func(ctx context.Context) error { return s.cli.Sync(ctx) }) {
		return
	}
	for etcdv2.Sleep(s.ctx, s.cfg.AutoSync) {
		// etcd's client gives its periodic sync 5 s.
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		s.cli.Sync(ctx)
		cancel()
	}
}

// untilDone runs do, an operation's time each, until it succeeds or the
// store closes; it says whether it succeeded.
func (s *Etcd) untilDone(do func(context.Context) error) bool {
	wait := retryFirst
	for {
		ctx, cancel := s.opCtx(s.ctx)
		err := do(ctx)
		cancel()
		if err == nil {
			return true
		}
		if !etcdv2.Sleep(s.ctx, wait) {
			return false
		}
		wait = min(2*wait, retryMax)
	}
}

// opCtx bounds one operation.
func (s *Etcd) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.OpTimeout)
}

// fail turns an etcd error into the store's: the caller's own context
// ending is reported as such; no quorum, no connection or no answer in
// time is ErrUnavailable.
func (s *Etcd) fail(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: %w", op, cerr)
	}
	if unavailable(err) {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer from a quorum of %s within %v", strings.Join(s.cfg.Endpoints, ","), s.cfg.OpTimeout)
		}
		return &UnavailableError{Op: op, Cause: err}
	}
	return fmt.Errorf("%s: cluster store: %w", op, err)
}

func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ee *etcdv2.Error
	return errors.As(err, &ee) && ee.Unavailable()
}

// Close withdraws the endpoints and addresses this client published and
// took (within one operation's time: a store without a quorum keeps them,
// as Docker's does those of a host that dies), stops the heartbeat and the
// watches and closes the client. The node key runs out with its TTL.
// Closing again does nothing.
func (s *Etcd) Close() error { return s.shutdown(true) }

// Rewind: see Store. It also forgets which endpoint directories it made:
// a store put back to how it was (a lab's reset) has lost them, and a
// fresh client would make them again.
func (s *Etcd) Rewind() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextPool, s.nextVNI = 0, 0
	s.dirs = map[string]bool{}
}

// abandon stops everything without withdrawing anything, as a host that
// dies does.
func (s *Etcd) abandon() { s.shutdown(false) }

func (s *Etcd) shutdown(withdraw bool) error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.done.Wait()
		if withdraw {
			s.closeErr = s.withdrawAll()
		}
		s.cli.Close()
	})
	return s.closeErr
}

// withdrawAll deletes the endpoints and frees the addresses of this
// client, all within one operation's time.
func (s *Etcd) withdrawAll() error {
	ctx, cancel := s.opCtx(context.Background())
	defer cancel()
	s.mu.Lock()
	eps, addrs := maps.Clone(s.endpoints), maps.Clone(s.addresses)
	s.mu.Unlock()
	var errs []error
	for _, ep := range eps {
		errs = append(errs, s.DeleteEndpoint(ctx, ep.NetworkID, ep.ID))
	}
	for k, a := range addrs {
		networkID, _, _ := strings.Cut(k, " ")
		errs = append(errs, s.ReleaseAddress(ctx, networkID, a))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close: withdraw host %s's endpoints: %w", s.cfg.Host.Name, err)
	}
	return nil
}

func addressOwnKey(networkID string, a netip.Addr) string { return networkID + " " + a.String() }
