// Package etcdv3 is a small client of etcd's v3 API through the JSON
// gateway that every etcd 3.5 member serves on its client URLs
// (POST /v3/kv/range and the like), made of net/http and encoding/json
// only.
//
// etcd's own client (go.etcd.io/etcd/client/v3) speaks gRPC; with it come
// grpc-go, the protobuf registries and zap, whose package initialisation
// alone costs a process about 11 MiB of memory. hostd runs on every
// virtual host and needs a handful of calls: ranges, puts, deletes,
// transactions, leases, one watch and the member list.
//
// Requests go to one endpoint at a time; on a connection error the next
// one is tried, as etcd's client fails over. What the cluster answers with
// (no leader, lease not found) comes back as an *Error with etcd's code and
// message.
package etcdv3

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Config configures a Client.
type Config struct {
	// Endpoints are the members' client URLs, "http://IP:2379".
	Endpoints []string
	// DialContext opens the client's connections; nil is net.Dialer's.
	DialContext func(ctx context.Context, addr string) (net.Conn, error)
	// DialTimeout bounds opening one connection, and a watch's wait for
	// its first answer (default 2s): an endpoint that does not answer
	// gives way to the next one.
	DialTimeout time.Duration
}

// DefaultDialTimeout is Config.DialTimeout's default.
const DefaultDialTimeout = 2 * time.Second

// Client calls an etcd cluster. Its methods may be called concurrently.
type Client struct {
	http        *http.Client
	dialTimeout time.Duration

	mu  sync.Mutex
	eps []string // base URLs, without a trailing slash
	// pinned is the endpoint that answered last: requests go there first.
	pinned string
}

// New checks the endpoints and makes a client; it connects to nothing yet.
func New(cfg Config) (*Client, error) {
	eps, err := checkEndpoints(cfg.Endpoints)
	if err != nil {
		return nil, err
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	dial := cfg.DialContext
	if dial == nil {
		var d net.Dialer
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	tr := &http.Transport{
		// The lab's traffic never goes through a proxy from the
		// environment: Proxy stays nil.
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
			defer cancel()
			return dial(ctx, addr)
		},
		// Concurrent requests (a burst of allocations) keep their
		// connections for the next burst.
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     time.Minute,
		// etcd's client port serves HTTP/1.1 and gRPC's HTTP/2 on one
		// socket; plain HTTP/1.1 is what the gateway expects.
		ForceAttemptHTTP2: false,
	}
	return &Client{
		http:        &http.Client{Transport: tr},
		dialTimeout: cfg.DialTimeout,
		eps:         eps,
		pinned:      eps[0],
	}, nil
}

func checkEndpoints(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, errors.New("etcd client: no endpoints")
	}
	out := make([]string, 0, len(in))
	for _, e := range in {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("etcd client: endpoint %q: want http://HOST:PORT", e)
		}
		out = append(out, u.Scheme+"://"+u.Host)
	}
	return out, nil
}

// Close closes the idle connections. Calls still running end with their
// contexts.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Endpoints are the client URLs requests go to, the pinned one first.
func (c *Client) Endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.eps))
	out = append(out, c.pinned)
	for _, e := range c.eps {
		if e != c.pinned {
			out = append(out, e)
		}
	}
	return out
}

// SetEndpoints replaces the endpoints; the pinned one stays pinned if it
// is among them.
func (c *Client) SetEndpoints(eps []string) error {
	eps, err := checkEndpoints(eps)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eps = eps
	for _, e := range eps {
		if e == c.pinned {
			return nil
		}
	}
	c.pinned = eps[0]
	return nil
}

// pin makes ep the endpoint to try first.
func (c *Client) pin(ep string) {
	c.mu.Lock()
	c.pinned = ep
	c.mu.Unlock()
}

// unpin makes the endpoint after ep the first to try, if ep is pinned:
// etcd's client spreads its requests over the endpoints, so a retry after
// "no leader" may meet a member that has one.
func (c *Client) unpin(ep string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pinned != ep {
		return
	}
	for i, e := range c.eps {
		if e == ep {
			c.pinned = c.eps[(i+1)%len(c.eps)]
			return
		}
	}
}

type requireLeaderKey struct{}

// WithRequireLeader makes the requests made with ctx fail at once, with
// ErrNoLeader, on a member that knows no leader, instead of waiting for
// one; a watch made with it ends when its member loses the leader. It is
// etcd client's WithRequireLeader: gRPC metadata hasleader=true, which
// the gateway takes from the header Grpc-Metadata-Hasleader.
func WithRequireLeader(ctx context.Context) context.Context {
	return context.WithValue(ctx, requireLeaderKey{}, true)
}

func requiresLeader(ctx context.Context) bool {
	v, _ := ctx.Value(requireLeaderKey{}).(bool)
	return v
}

// Reconnect pauses while no endpoint takes connections: about gRPC's, so
// that a member back after seconds is used within a second.
const (
	reconnectFirst = 100 * time.Millisecond
	reconnectMax   = time.Second
)

// post sends body to path, first to the pinned endpoint and on a
// connection error to the next ones; when none takes the request it tries
// again after a pause, until ctx ends (as etcd's client waits for a
// connection). It returns the answer of status 200, whose body the caller
// closes, or the cluster's *Error, or ctx's error with the last
// connection error.
func (c *Client) post(ctx context.Context, path string, body []byte) (*http.Response, error) {
	wait := reconnectFirst
	for {
		var last error
		for _, ep := range c.Endpoints() {
			resp, err := c.send(ctx, ep+path, body)
			if err != nil {
				if ctx.Err() != nil {
					return nil, fmt.Errorf("%s: %w (last: %v)", path, ctx.Err(), err)
				}
				last = err
				c.unpin(ep)
				continue
			}
			if resp.StatusCode != http.StatusOK {
				e := readError(resp)
				resp.Body.Close()
				if e.Unavailable() {
					c.unpin(ep)
				}
				return nil, e
			}
			c.pin(ep)
			return resp, nil
		}
		if !sleep(ctx, wait) {
			return nil, fmt.Errorf("%s: %w (no endpoint answered; last: %v)", path, ctx.Err(), last)
		}
		wait = min(wait*2, reconnectMax)
	}
}

func (c *Client) send(ctx context.Context, u string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if requiresLeader(ctx) {
		req.Header.Set("Grpc-Metadata-Hasleader", "true")
	}
	return c.http.Do(req)
}

// call posts in as JSON to path and decodes the answer into out.
func (c *Client) call(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", path, err)
	}
	resp, err := c.post(ctx, path, body)
	if err != nil {
		return err
	}
	defer func() {
		// What follows the message (a newline) is read, so that the
		// connection goes back to the pool.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
	}()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", path, ctx.Err())
		}
		return fmt.Errorf("%s: decode the answer: %w", path, err)
	}
	return nil
}

// MemberList lists the members, as the cluster agreed on them
// (a linearizable read, which needs a leader).
func (c *Client) MemberList(ctx context.Context) (*MemberListResponse, error) {
	var out MemberListResponse
	if err := c.call(ctx, "/v3/cluster/member/list", struct {
		Linearizable bool `json:"linearizable"`
	}{true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Sync makes the members' client URLs the endpoints, as etcd's client
// does: a client given one member's URL learns the others'.
func (c *Client) Sync(ctx context.Context) error {
	resp, err := c.MemberList(ctx)
	if err != nil {
		return err
	}
	var eps []string
	for _, m := range resp.Members {
		// A member that has not started yet has no name; a learner
		// serves no requests.
		if m.Name != "" && !m.IsLearner {
			eps = append(eps, m.ClientURLs...)
		}
	}
	if len(eps) == 0 {
		return errors.New("etcd client: sync: the member list names no client URL")
	}
	return c.SetEndpoints(eps)
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
