// Package etcdv2 is a small client of etcd's v2 key space (/v2/keys), the
// one Docker 20.10's libkv writes with --cluster-store=etcd://...: keys and
// directories, compare-and-swap on a key's index (prevIndex) or existence
// (prevExist), TTLs, and recursive watches from an index. It is made of
// net/http and encoding/json only: hostd runs on every virtual host and
// needs a handful of calls.
//
// Requests go to one endpoint at a time; on a connection error the next
// one is tried, as etcd's client fails over. What the cluster answers with
// (key not found, compare failed, raft internal error) comes back as an
// *Error with etcd's code.
package etcdv2

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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
	// its answer's headers (default 2s): an endpoint that does not answer
	// gives way to the next one.
	DialTimeout time.Duration
}

// DefaultDialTimeout is Config.DialTimeout's default.
const DefaultDialTimeout = 2 * time.Second

// Client calls an etcd cluster's v2 API. Its methods may be called
// concurrently.
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

func (c *Client) pin(ep string) {
	c.mu.Lock()
	c.pinned = ep
	c.mu.Unlock()
}

// unpin makes the endpoint after ep the first to try, if ep is pinned: a
// retry after the member could not serve may meet one that can.
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

// Reconnect pauses while no endpoint takes connections, so that a member
// back after seconds is used within a second.
const (
	reconnectFirst = 100 * time.Millisecond
	reconnectMax   = time.Second
)

// request is one call: method, path below the endpoint, query and form.
type request struct {
	method string
	path   string
	query  url.Values
	form   url.Values
}

// do sends r, first to the pinned endpoint and on a connection error to
// the next ones; when none takes it, it tries again after a pause until
// ctx ends. It returns an answer of status 2xx, whose body the caller
// closes, or the cluster's *Error, or ctx's error with the last connection
// error.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	wait := reconnectFirst
	var last error // the last connection error, of this round or an earlier one
	for {
		for _, ep := range c.Endpoints() {
			resp, err := c.send(ctx, ep, r)
			if err != nil {
				if ctx.Err() != nil {
					// An attempt that ctx cut short says only that: the
					// error before it tells why no endpoint answered.
					if last == nil {
						last = err
					}
					return nil, fmt.Errorf("%s %s: %w (last: %v)", r.method, r.path, ctx.Err(), last)
				}
				last = err
				c.unpin(ep)
				continue
			}
			if resp.StatusCode/100 != 2 {
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
		if !Sleep(ctx, wait) {
			return nil, fmt.Errorf("%s %s: %w (no endpoint answered; last: %v)", r.method, r.path, ctx.Err(), last)
		}
		wait = min(wait*2, reconnectMax)
	}
}

func (c *Client) send(ctx context.Context, ep string, r request) (*http.Response, error) {
	u := ep + (&url.URL{Path: r.path}).EscapedPath()
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.form != nil {
		body = strings.NewReader(r.form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, err
	}
	if r.form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return c.http.Do(req)
}

// call sends r and decodes the answer into out; index receives the
// cluster's X-Etcd-Index when it is not nil.
func (c *Client) call(ctx context.Context, r request, out any, index *uint64) error {
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	defer func() {
		// What follows the message (a newline) is read, so that the
		// connection goes back to the pool.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
	}()
	if index != nil {
		*index, _ = strconv.ParseUint(resp.Header.Get("X-Etcd-Index"), 10, 64)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", r.method, r.path, ctx.Err())
		}
		return fmt.Errorf("%s %s: decode the answer: %w", r.method, r.path, err)
	}
	return nil
}

// Member is one member of the cluster, as /v2/members lists it.
type Member struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
}

// Members lists the cluster's members, as the member asked knows them
// (no quorum needed).
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var out struct {
		Members []Member `json:"members"`
	}
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v2/members"}, &out, nil); err != nil {
		return nil, err
	}
	return out.Members, nil
}

// Sync makes the members' client URLs the endpoints, as etcd's client
// does: a client given one member's URL learns the others'.
func (c *Client) Sync(ctx context.Context) error {
	_, err := c.SyncAll(ctx)
	return err
}

// SyncAll is Sync that also says whether the list named every member. One
// that has not started yet has no name and no client URL, and neither has
// one whose start the member asked has not applied yet.
func (c *Client) SyncAll(ctx context.Context) (all bool, err error) {
	ms, err := c.Members(ctx)
	if err != nil {
		return false, err
	}
	var eps []string
	all = true
	for _, m := range ms {
		if m.Name == "" {
			all = false
			continue
		}
		eps = append(eps, m.ClientURLs...)
	}
	if len(eps) == 0 {
		return false, errors.New("etcd client: sync: the member list names no client URL")
	}
	return all, c.SetEndpoints(eps)
}

// Sleep waits d unless ctx ends first; it reports whether to go on.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
