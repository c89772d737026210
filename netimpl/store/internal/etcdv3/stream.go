package etcdv3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// The gateway answers a streaming call (watch, lease keepalive) with one
// JSON object per message, separated by newlines: {"result": MESSAGE},
// and, if the stream fails after it began, a last {"error": {...}}.

// streamReader reads the messages of a streaming answer.
type streamReader struct {
	path string
	dec  *json.Decoder
}

func newStreamReader(path string, r io.Reader) *streamReader {
	return &streamReader{path: path, dec: json.NewDecoder(r)}
}

// next decodes the next message into out. At the end of the stream it
// returns io.EOF; a failure the server reported is its *Error.
func (s *streamReader) next(out any) error {
	var m struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := s.dec.Decode(&m); err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		return fmt.Errorf("%s: read the stream: %w", s.path, err)
	}
	if len(m.Error) > 0 {
		if e, ok := (gatewayError{Error: m.Error}).toError(); ok {
			return e
		}
		return fmt.Errorf("%s: the stream failed: %s", s.path, m.Error)
	}
	if len(m.Result) == 0 {
		return fmt.Errorf("%s: a stream message without result", s.path)
	}
	if err := json.Unmarshal(m.Result, out); err != nil {
		return fmt.Errorf("%s: decode a stream message: %w", s.path, err)
	}
	return nil
}

// Grant grants a lease of ttl seconds.
func (c *Client) Grant(ctx context.Context, ttl int64) (*LeaseGrantResponse, error) {
	var out LeaseGrantResponse
	if err := c.call(ctx, "/v3/lease/grant", leaseGrantRequest{TTL: ttl}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Revoke revokes lease id, deleting the keys attached to it.
func (c *Client) Revoke(ctx context.Context, id LeaseID) error {
	var out struct {
		Header ResponseHeader `json:"header"`
	}
	return c.call(ctx, "/v3/lease/revoke", leaseIDRequest{ID: id}, &out)
}

// KeepAliveOnce renews lease id once. The keepalive call is a stream of
// requests and answers; the gateway ends it after the one request in the
// body, once the server has answered.
func (c *Client) KeepAliveOnce(ctx context.Context, id LeaseID) (*LeaseKeepAliveResponse, error) {
	const path = "/v3/lease/keepalive"
	body, err := json.Marshal(leaseIDRequest{ID: id})
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, path, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out LeaseKeepAliveResponse
	if err := newStreamReader(path, resp.Body).next(&out); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", path, ctx.Err())
		}
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the stream ended without an answer", path)
		}
		return nil, err
	}
	return &out, nil
}

// Watcher is an open watch.
type Watcher struct {
	cancel context.CancelCauseFunc
	body   io.ReadCloser
	r      *streamReader
}

// Watch opens a watch and returns once the server has taken it (its first
// answer, "created", is the first Recv's). The watch lasts until ctx ends,
// Close, or the server ends it (a watch made with WithRequireLeader ends
// when its member loses the leader).
func (c *Client) Watch(ctx context.Context, req WatchCreateRequest) (*Watcher, error) {
	const path = "/v3/watch"
	body, err := json.Marshal(watchRequest{Create: &req})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancelCause(ctx)
	// The answer's headers come with the server's first message: a member
	// that takes the connection but not the watch does not hold the
	// caller for longer than a dial.
	timer := time.AfterFunc(c.dialTimeout, func() {
		cancel(fmt.Errorf("%s: no answer within %v: %w", path, c.dialTimeout, context.DeadlineExceeded))
	})
	resp, err := c.post(wctx, path, body)
	fired := !timer.Stop()
	if err == nil && !fired && ctx.Err() == nil {
		return &Watcher{cancel: cancel, body: resp.Body, r: newStreamReader(path, resp.Body)}, nil
	}
	if err == nil {
		resp.Body.Close()
	}
	cancel(nil)
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s: %w", path, ctx.Err())
	case fired:
		return nil, context.Cause(wctx)
	}
	return nil, err
}

// Recv returns the next answer of the watch. It returns io.EOF when the
// server ended the stream, the server's *Error when it failed, and an
// error once Close was called or the watch's context ended.
func (w *Watcher) Recv() (*WatchResponse, error) {
	var out WatchResponse
	if err := w.r.next(&out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Close ends the watch: the request is closed, which makes the server
// cancel it.
func (w *Watcher) Close() {
	w.cancel(nil)
	w.body.Close()
}
