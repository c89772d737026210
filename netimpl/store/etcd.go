package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/nslab/nslab/netimpl/store/internal/etcdv3"
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
	// dials through the host's namespace with netns/probe.DialContext.
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
	cli *etcdv3.Client
	kv  retryKV // cli, with the retries of etcd_retry.go

	ctx    context.Context // ends with Close: the session and the watches
	cancel context.CancelFunc
	done   chan struct{} // closed when the session loop has ended

	mu sync.Mutex
	// lease is the current lease, 0 while there is none; leaseSet is
	// closed and replaced whenever it changes.
	lease    etcdv3.LeaseID
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
	cli, err := etcdv3.New(etcdv3.Config{
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
		cfg: cfg, cli: cli, kv: retryKV{cli}, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		leaseSet: make(chan struct{}), owned: map[string]ownedKey{},
	}
	go s.session()
	if cfg.AutoSync > 0 {
		go s.autoSync()
	}
	return s, nil
}

// autoSync learns the members' client URLs at once, retrying until it
// can (a member that stops early would leave the client with none but its
// own), and then again every AutoSync, as Docker's etcd client does.
func (s *Etcd) autoSync() {
	wait := retryFirst
	for {
		ctx, cancel := s.opCtx(s.ctx)
		err := s.cli.Sync(ctx)
		cancel()
		if err == nil {
			break
		}
		if !sleep(s.ctx, wait) {
			return
		}
		wait = min(2*wait, retryMax)
	}
	for sleep(s.ctx, s.cfg.AutoSync) {
		// etcd's client gives its periodic sync 5 s.
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		s.cli.Sync(ctx)
		cancel()
	}
}

// opCtx bounds one operation and makes its requests fail at once on a
// member that knows no leader.
func (s *Etcd) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(etcdv3.WithRequireLeader(ctx), s.cfg.OpTimeout)
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
	var ee *etcdv3.Error
	return errors.As(err, &ee) && ee.Unavailable()
}

// waitLease returns the current lease, waiting for the session to get one.
func (s *Etcd) waitLease(ctx context.Context) (etcdv3.LeaseID, error) {
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
func (s *Etcd) setLease(id etcdv3.LeaseID) {
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
func (s *Etcd) dropLease(id etcdv3.LeaseID) {
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
			err := s.cli.Revoke(ctx, id)
			cancel()
			if err != nil && !errors.Is(err, etcdv3.ErrLeaseNotFound) {
				s.closeErr = s.fail(context.Background(), "close: revoke the lease of host "+s.cfg.Host.Name, err)
			}
		}
		s.cli.Close()
	})
	return s.closeErr
}
