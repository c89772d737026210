package etcdv2

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Node is a key or a directory, as the v2 API answers it.
type Node struct {
	Key           string     `json:"key"`
	Value         string     `json:"value,omitempty"`
	Dir           bool       `json:"dir,omitempty"`
	Nodes         []*Node    `json:"nodes,omitempty"`
	CreatedIndex  uint64     `json:"createdIndex"`
	ModifiedIndex uint64     `json:"modifiedIndex"`
	TTL           int64      `json:"ttl,omitempty"`
	Expiration    *time.Time `json:"expiration,omitempty"`
}

// Response is the answer to a request, or one event of a watch: Action is
// get, set, create, update, compareAndSwap, delete, compareAndDelete or
// expire; PrevNode is the node before a change.
type Response struct {
	Action   string `json:"action"`
	Node     *Node  `json:"node"`
	PrevNode *Node  `json:"prevNode,omitempty"`
	// Index is the cluster's index when it answered (X-Etcd-Index): a
	// watch from Index+1 misses nothing that came after the answer.
	Index uint64 `json:"-"`
}

// GetOptions narrow a Get.
type GetOptions struct {
	Recursive bool // a directory with everything below it
	Sorted    bool // a directory's nodes by key
	// Quorum reads through raft, as a write goes: the answer is the
	// cluster's, and there is none without a quorum. Without it a member
	// answers from its own copy.
	Quorum bool
}

// Get reads a key or a directory.
func (c *Client) Get(ctx context.Context, key string, o GetOptions) (*Response, error) {
	q := url.Values{}
	setBool(q, "recursive", o.Recursive)
	setBool(q, "sorted", o.Sorted)
	setBool(q, "quorum", o.Quorum)
	return c.keys(ctx, key, request{method: http.MethodGet, query: q})
}

// PrevExist is a Set's condition on the key's existence.
type PrevExist string

const (
	PrevIgnore  PrevExist = ""      // whether it exists or not
	PrevExists  PrevExist = "true"  // only an existing key (an update)
	PrevNoExist PrevExist = "false" // only a new key (a create)
)

// SetOptions are a Set's conditions and kind.
type SetOptions struct {
	// PrevIndex, when not 0, makes the set a compare-and-swap: it happens
	// only if the key's modified index is still PrevIndex.
	PrevIndex uint64
	PrevExist PrevExist
	// TTL makes the key expire (whole seconds; 0: never).
	TTL time.Duration
	// Dir makes a directory (the value is ignored).
	Dir bool
}

// Set writes a key, or makes a directory.
func (c *Client) Set(ctx context.Context, key, value string, o SetOptions) (*Response, error) {
	f := url.Values{}
	if o.Dir {
		f.Set("dir", "true")
	} else {
		f.Set("value", value)
	}
	if o.PrevIndex != 0 {
		f.Set("prevIndex", strconv.FormatUint(o.PrevIndex, 10))
	}
	if o.PrevExist != PrevIgnore {
		f.Set("prevExist", string(o.PrevExist))
	}
	if o.TTL > 0 {
		f.Set("ttl", strconv.FormatInt(int64((o.TTL+time.Second-1)/time.Second), 10))
	}
	return c.keys(ctx, key, request{method: http.MethodPut, form: f})
}

// DeleteOptions are a Delete's condition and kind.
type DeleteOptions struct {
	// PrevIndex, when not 0, makes the delete a compare-and-delete.
	PrevIndex uint64
	Recursive bool // a directory with everything below it
	Dir       bool // an empty directory
}

// Delete deletes a key or a directory.
func (c *Client) Delete(ctx context.Context, key string, o DeleteOptions) (*Response, error) {
	q := url.Values{}
	if o.PrevIndex != 0 {
		q.Set("prevIndex", strconv.FormatUint(o.PrevIndex, 10))
	}
	setBool(q, "recursive", o.Recursive)
	setBool(q, "dir", o.Dir)
	return c.keys(ctx, key, request{method: http.MethodDelete, query: q})
}

// keys sends r to key's path under /v2/keys and decodes etcd's answer,
// with the cluster index it came at.
func (c *Client) keys(ctx context.Context, key string, r request) (*Response, error) {
	r.path = keyPath(key)
	var out Response
	if err := c.call(ctx, r, &out, &out.Index); err != nil {
		return nil, err
	}
	return &out, nil
}

func keyPath(key string) string {
	if len(key) > 0 && key[0] == '/' {
		return "/v2/keys" + key
	}
	return "/v2/keys/" + key
}

func setBool(q url.Values, name string, v bool) {
	if v {
		q.Set(name, "true")
	}
}
