package etcdv2

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Wait returns the first change to key (and, recursive, below it) at index
// waitIndex or after, waiting for one as long as ctx lasts: a long poll, as
// etcd's own v2 client watches. The next change is the next Wait's, from
// the returned node's ModifiedIndex+1. (A streaming watch does not serve
// here: one that starts in the history delivers the first change it finds
// there and nothing after.)
//
// A waitIndex the member's history no longer holds (it keeps the last 1000
// events) is refused with ErrEventIndexCleared: the caller reads the keys
// again and waits from after that read. The member sends the answer's
// headers at once; one that takes the connection but sends none does not
// hold the caller for longer than the dial timeout.
func (c *Client) Wait(ctx context.Context, key string, waitIndex uint64, recursive bool) (*Response, error) {
	q := url.Values{"wait": {"true"}}
	if waitIndex != 0 {
		q.Set("waitIndex", strconv.FormatUint(waitIndex, 10))
	}
	setBool(q, "recursive", recursive)
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(c.dialTimeout, func() {
		cancel(fmt.Errorf("wait %s: no answer within %v: %w", key, c.dialTimeout, context.DeadlineExceeded))
	})
	resp, err := c.do(wctx, request{method: http.MethodGet, path: keyPath(key), query: q})
	fired := !timer.Stop()
	switch {
	case ctx.Err() != nil:
		if err == nil {
			resp.Body.Close()
		}
		return nil, fmt.Errorf("wait %s: %w", key, ctx.Err())
	case fired:
		if err == nil {
			resp.Body.Close()
		}
		return nil, context.Cause(wctx)
	case err != nil:
		return nil, err
	}
	defer resp.Body.Close()
	var out Response
	out.Index, _ = strconv.ParseUint(resp.Header.Get("X-Etcd-Index"), 10, 64)
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("wait %s: %w", key, ctx.Err())
		}
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("wait %s: the member ended the answer before a change", key)
		}
		return nil, fmt.Errorf("wait %s: decode the answer: %w", key, err)
	}
	if out.Node == nil {
		return nil, fmt.Errorf("wait %s: a change without a node", key)
	}
	return &out, nil
}
