package etcdv3

import "context"

// OpOption narrows a get, put or delete, as etcd client's options do.
type OpOption func(*op)

type op struct {
	prefix, keysOnly, countOnly bool
	lease                       LeaseID
}

// WithPrefix makes a get or delete take every key that starts with key.
func WithPrefix() OpOption { return func(o *op) { o.prefix = true } }

// WithKeysOnly makes a get return keys without values.
func WithKeysOnly() OpOption { return func(o *op) { o.keysOnly = true } }

// WithCountOnly makes a get return only how many keys there are.
func WithCountOnly() OpOption { return func(o *op) { o.countOnly = true } }

// WithLease attaches a put's key to the lease id.
func WithLease(id LeaseID) OpOption { return func(o *op) { o.lease = id } }

func options(opts []OpOption) op {
	var o op
	for _, f := range opts {
		f(&o)
	}
	return o
}

// PrefixEnd is the end of the range of keys that start with prefix: the
// prefix with its last byte below 0xff incremented; "\x00" (every key)
// when there is none.
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}

func keyRange(key string, prefix bool) (k, end []byte) {
	k = []byte(key)
	if prefix {
		end = PrefixEnd(k)
	}
	return k, end
}

// OpGet is a read of key for a transaction.
func OpGet(key string, opts ...OpOption) RequestOp {
	o := options(opts)
	k, end := keyRange(key, o.prefix)
	return RequestOp{Range: &RangeRequest{Key: k, RangeEnd: end, KeysOnly: o.keysOnly, CountOnly: o.countOnly}}
}

// OpPut is a write of val at key for a transaction.
func OpPut(key, val string, opts ...OpOption) RequestOp {
	o := options(opts)
	return RequestOp{Put: &PutRequest{Key: []byte(key), Value: []byte(val), Lease: o.lease}}
}

// OpDelete is a deletion of key for a transaction.
func OpDelete(key string, opts ...OpOption) RequestOp {
	o := options(opts)
	k, end := keyRange(key, o.prefix)
	return RequestOp{DeleteRange: &DeleteRangeRequest{Key: k, RangeEnd: end}}
}

// Comparison results, as a Compare names them.
const (
	Equal    = "EQUAL"
	Greater  = "GREATER"
	Less     = "LESS"
	NotEqual = "NOT_EQUAL"
)

// CompareCreate compares key's create revision (0: the key is absent)
// with rev: CompareCreate(k, Equal, 0) holds when k does not exist.
func CompareCreate(key, result string, rev int64) Compare {
	return Compare{Result: result, Target: "CREATE", Key: []byte(key), CreateRevision: &rev}
}

// CompareMod compares key's last modification revision with rev.
func CompareMod(key, result string, rev int64) Compare {
	return Compare{Result: result, Target: "MOD", Key: []byte(key), ModRevision: &rev}
}

// WithPrefix makes the comparison hold for every key that starts with the
// key (and vacuously when there is none).
func (c Compare) WithPrefix() Compare {
	c.RangeEnd = PrefixEnd(c.Key)
	return c
}

// Get reads key.
func (c *Client) Get(ctx context.Context, key string, opts ...OpOption) (*RangeResponse, error) {
	var out RangeResponse
	if err := c.call(ctx, "/v3/kv/range", OpGet(key, opts...).Range, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Put writes val at key.
func (c *Client) Put(ctx context.Context, key, val string, opts ...OpOption) (*PutResponse, error) {
	var out PutResponse
	if err := c.call(ctx, "/v3/kv/put", OpPut(key, val, opts...).Put, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete deletes key.
func (c *Client) Delete(ctx context.Context, key string, opts ...OpOption) (*DeleteRangeResponse, error) {
	var out DeleteRangeResponse
	if err := c.call(ctx, "/v3/kv/deleterange", OpDelete(key, opts...).DeleteRange, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Txn runs a transaction.
func (c *Client) Txn(ctx context.Context, t TxnRequest) (*TxnResponse, error) {
	var out TxnResponse
	if err := c.call(ctx, "/v3/kv/txn", t, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
