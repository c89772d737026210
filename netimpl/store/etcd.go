package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Defaults of an Etcd store.
const (
	// DefaultOpTimeout bounds every operation: an etcd member without a
	// leader refuses at once (the request requires one), and a request
	// the leader takes but cannot commit without a quorum runs into this.
	DefaultOpTimeout = 2 * time.Second
	// DefaultLeaseTTL is how long a dead host's endpoints and addresses
	// outlive its last lease renewal.
	DefaultLeaseTTL = 10 * time.Second
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
	// dials through the host's namespace with lab/probe.DialContext.
	DialContext func(ctx context.Context, addr string) (net.Conn, error)
	// OpTimeout bounds each operation (default DefaultOpTimeout).
	OpTimeout time.Duration
	// LeaseTTL is the host's lease (default DefaultLeaseTTL, whole seconds,
	// at least etcd's minimum, about 1.5 election timeouts).
	LeaseTTL time.Duration
	// AutoSync, when set, makes the client learn the cluster's members'
	// client URLs every AutoSync, as Docker's etcd client does: a host
	// whose own member is down still reaches the others.
	AutoSync time.Duration
}

// Etcd is the store on an etcd cluster. Its lease, renewed in the
// background, carries the host's node key, endpoints and address claims;
// if the lease is ever lost (the host was cut off for longer than the
// TTL) a new one is granted and those keys written again.
type Etcd struct {
	cfg EtcdConfig
	cli *clientv3.Client

	ctx    context.Context // ends with Close: the session and the watches
	cancel context.CancelFunc
	done   chan struct{} // closed when the session loop has ended

	mu sync.Mutex
	// lease is the current lease, 0 while there is none; leaseSet is
	// closed and replaced whenever it changes.
	lease    clientv3.LeaseID
	leaseSet chan struct{}
	// owned are the leased keys this host wrote, by key, to write again
	// under a new lease.
	owned map[string]ownedKey

	closeOnce sync.Once
	closeErr  error
}

type ownedKey struct {
	value     string
	networkID string // the key is dropped instead when this network is gone
}

var _ Store = (*Etcd)(nil)

// OpenEtcd makes the client and starts the host's session (lease, node
// key) in the background. It needs no quorum: operations that need the
// lease wait for it within their own time bound.
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
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.LeaseTTL < time.Second {
		cfg.LeaseTTL = time.Second
	}
	opts := []grpc.DialOption{
		// The lab's traffic never goes through a proxy from the environment.
		grpc.WithNoProxy(),
		// gRPC's default reconnect backoff grows to two minutes: a member
		// back after an outage of seconds would stay unused for as long.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: cfg.OpTimeout,
		}),
	}
	if cfg.DialContext != nil {
		opts = append(opts, grpc.WithContextDialer(cfg.DialContext))
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:        cfg.Endpoints,
		DialTimeout:      cfg.OpTimeout,
		DialOptions:      opts,
		Logger:           zap.NewNop(),
		AutoSyncInterval: cfg.AutoSync,
	})
	if err != nil {
		return nil, fmt.Errorf("store: etcd client for %v: %w", cfg.Endpoints, err)
	}
	cli.KV = retryKV{cli.KV}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Etcd{
		cfg: cfg, cli: cli, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		leaseSet: make(chan struct{}), owned: map[string]ownedKey{},
	}
	go s.session()
	if cfg.AutoSync > 0 {
		// The client's own sync comes only after a first interval; a
		// member that stops before would leave it with none but its own.
		go s.firstSync()
	}
	return s, nil
}

// firstSync learns the members' client URLs once, retrying until it can.
func (s *Etcd) firstSync() {
	wait := retryFirst
	for {
		ctx, cancel := s.opCtx(s.ctx)
		err := s.cli.Sync(ctx)
		cancel()
		if err == nil || !sleep(s.ctx, wait) {
			return
		}
		wait = min(2*wait, retryMax)
	}
}

// opCtx bounds one operation and makes its requests fail at once on a
// member that knows no leader.
func (s *Etcd) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(clientv3.WithRequireLeader(ctx), s.cfg.OpTimeout)
}

// fail turns an etcd error into the store's: the caller's own context
// ending is reported as such; no leader, no connection or no answer in
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
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable || ee.Code() == codes.DeadlineExceeded
	}
	if st, ok := status.FromError(err); ok {
		return st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded || st.Code() == codes.Canceled
	}
	return errors.Is(err, clientv3.ErrNoAvailableEndpoints)
}

// waitLease returns the current lease, waiting for the session to get one.
func (s *Etcd) waitLease(ctx context.Context) (clientv3.LeaseID, error) {
	for {
		s.mu.Lock()
		id, ch := s.lease, s.leaseSet
		s.mu.Unlock()
		if id != 0 {
			return id, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, fmt.Errorf("no lease for host %s yet: %w", s.cfg.Host.Name, ctx.Err())
		}
	}
}

// setLease records the session's lease (0: none) and wakes its waiters.
func (s *Etcd) setLease(id clientv3.LeaseID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lease == id {
		return
	}
	s.lease = id
	close(s.leaseSet)
	s.leaseSet = make(chan struct{})
}

// dropLease forgets a lease the cluster no longer knows, so that the next
// operation waits for the session's new one.
func (s *Etcd) dropLease(id clientv3.LeaseID) {
	s.mu.Lock()
	cur := s.lease
	s.mu.Unlock()
	if cur == id {
		s.setLease(0)
	}
}

func (s *Etcd) own(key, value, networkID string) {
	s.mu.Lock()
	s.owned[key] = ownedKey{value: value, networkID: networkID}
	s.mu.Unlock()
}

func (s *Etcd) disown(key string) {
	s.mu.Lock()
	delete(s.owned, key)
	s.mu.Unlock()
}

// Close revokes the host's lease, which deletes its node key, endpoints
// and address claims in one step, ends the watches and closes the client.
// Closing again does nothing.
func (s *Etcd) Close() error { return s.shutdown(true) }

// abandon stops renewing the lease and closes the client without revoking
// anything, as a host that dies does: its keys stay until the lease TTL.
func (s *Etcd) abandon() { s.shutdown(false) }

func (s *Etcd) shutdown(revoke bool) error {
	s.closeOnce.Do(func() {
		s.cancel()
		<-s.done
		s.mu.Lock()
		id := s.lease
		s.mu.Unlock()
		if revoke && id != 0 {
			ctx, cancel := s.opCtx(context.Background())
			_, err := s.cli.Revoke(ctx, id)
			cancel()
			if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
				s.closeErr = s.fail(context.Background(), "close: revoke the lease of host "+s.cfg.Host.Name, err)
			}
		}
		s.closeErr = errors.Join(s.closeErr, s.cli.Close())
	})
	return s.closeErr
}
