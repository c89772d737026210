package etcdv3

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nslab/nslab/netns/nstest"
)

// A watch stream as the gateway writes it: the created answer, a put and
// a delete in one answer, and the error that ended the stream.
const watchStream = `{"result":{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","revision":"5","raft_term":"2"},"created":true}}
{"result":{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","revision":"7","raft_term":"2"},"events":[{"kv":{"key":"L3cvYQ==","create_revision":"6","mod_revision":"6","version":"1","value":"MQ==","lease":"7587883812226513412"}},{"type":"DELETE","kv":{"key":"L3cvYQ==","mod_revision":"7"}}]}}
{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}`

func TestDecodeWatchStream(t *testing.T) {
	r := newStreamReader("/v3/watch", strings.NewReader(watchStream))
	var created WatchResponse
	if err := r.next(&created); err != nil {
		t.Fatal(err)
	}
	if !created.Created || created.Header.Revision != 5 || created.Header.ClusterID != 14841639068965178418 || created.Err() != nil {
		t.Errorf("created: %+v", created)
	}
	var changes WatchResponse
	if err := r.next(&changes); err != nil {
		t.Fatal(err)
	}
	if changes.Header.Revision != 7 || len(changes.Events) != 2 {
		t.Fatalf("changes: %+v", changes)
	}
	put, del := changes.Events[0], changes.Events[1]
	if put.Type != EventPut || string(put.Kv.Key) != "/w/a" || string(put.Kv.Value) != "1" ||
		put.Kv.CreateRevision != 6 || put.Kv.ModRevision != 6 || put.Kv.Version != 1 || put.Kv.Lease != 7587883812226513412 {
		t.Errorf("put event: %+v %+v", put, put.Kv)
	}
	if del.Type != EventDelete || string(del.Kv.Key) != "/w/a" || del.Kv.Value != nil || del.Kv.ModRevision != 7 {
		t.Errorf("delete event: %+v %+v", del, del.Kv)
	}
	err := r.next(&WatchResponse{})
	var e *Error
	if !errors.Is(err, ErrNoLeader) || !errors.As(err, &e) || !e.Unavailable() {
		t.Errorf("end of the stream: %v, want ErrNoLeader, unavailable", err)
	}
	if err := r.next(&WatchResponse{}); err != io.EOF {
		t.Errorf("after the end: %v, want io.EOF", err)
	}

	// A stream cut in the middle of a message is an error, not its end.
	r = newStreamReader("/v3/watch", strings.NewReader(watchStream[:200]))
	r.next(&WatchResponse{})
	if err := r.next(&WatchResponse{}); err == nil || err == io.EOF {
		t.Errorf("a cut stream: %v, want an error", err)
	}
	// An event type by number, as a marshaler with EnumsAsInts writes it.
	var ev Event
	if err := json.Unmarshal([]byte(`{"type":1,"kv":{"key":"YQ=="}}`), &ev); err != nil || ev.Type != EventDelete {
		t.Errorf("type by number: %+v %v", ev, err)
	}
	if err := json.Unmarshal([]byte(`{"type":"MERGE"}`), &ev); err == nil {
		t.Error("an unknown event type decoded")
	}
}

// A watch canceled by the server says why; compaction is ErrCompacted.
func TestWatchResponseErr(t *testing.T) {
	for _, c := range []struct {
		in   string
		want error
	}{
		{`{"header":{"revision":"9"},"events":[]}`, nil},
		{`{"header":{"revision":"9"},"canceled":true,"compact_revision":"8"}`, ErrCompacted},
		{`{"header":{"revision":"9"},"canceled":true,"cancel_reason":"etcdserver: no leader"}`, &Error{Code: CodeCanceled, Message: "watch canceled: etcdserver: no leader"}},
	} {
		var w WatchResponse
		if err := json.Unmarshal([]byte(c.in), &w); err != nil {
			t.Fatal(err)
		}
		if err := w.Err(); (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: Err() = %v, want %v", c.in, err, c.want)
		}
	}
}

// The gateway's error bodies, unary and streaming, and bodies that are
// not the gateway's, map to etcd's errors and codes.
func TestDecodeError(t *testing.T) {
	for _, c := range []struct {
		status      int
		body        string
		is          error
		code        Code
		unavailable bool
	}{
		{404, `{"error":"etcdserver: requested lease not found","code":5,"message":"etcdserver: requested lease not found"}`, ErrLeaseNotFound, CodeNotFound, false},
		{503, `{"error":"etcdserver: leader changed","code":14,"message":"etcdserver: leader changed"}`, ErrLeaderChanged, CodeUnavailable, true},
		{503, `{"error":"etcdserver: request timed out, possibly due to previous leader failure","code":14}`, ErrTimeoutDueToLeaderFail, CodeUnavailable, true},
		{503, `{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}`, ErrNoLeader, CodeUnavailable, true},
		{400, `{"error":"etcdserver: mvcc: required revision has been compacted","code":11,"message":"etcdserver: mvcc: required revision has been compacted"}`, ErrCompacted, CodeOutOfRange, false},
		{504, `{"error":"context deadline exceeded","code":4,"message":"context deadline exceeded"}`, nil, CodeDeadlineExceeded, true},
		{408, `{"error":"context canceled","code":1,"message":"context canceled"}`, nil, CodeCanceled, true},
		{503, `{"code":14,"message":"etcdserver: no leader","details":[]}`, ErrNoLeader, CodeUnavailable, true},
		{503, `{"error":{"code":14,"message":"etcdserver: no leader"}}`, ErrNoLeader, CodeUnavailable, true},
		{404, "404 page not found\n", nil, CodeNotFound, false},
		{503, "", nil, CodeUnavailable, true},
		{502, `<html>bad gateway</html>`, nil, CodeUnknown, false},
	} {
		e := decodeError(c.status, []byte(c.body))
		if c.is != nil && !errors.Is(e, c.is) {
			t.Errorf("%d %s: %v is not %v", c.status, c.body, e, c.is)
		}
		if e.Code != c.code || e.Unavailable() != c.unavailable || e.Message == "" {
			t.Errorf("%d %s: %#v, want code %d, unavailable %v", c.status, c.body, e, c.code, c.unavailable)
		}
	}
	if errors.Is(&Error{Code: CodeUnavailable, Message: "etcdserver: no leader"}, ErrLeaderChanged) {
		t.Error("no leader matched leader changed")
	}
}

// Requests are written as the gateway reads them: a oneof comparison
// target of 0 is sent, 64-bit integers are strings, bytes base64.
func TestEncodeRequests(t *testing.T) {
	txn := TxnRequest{
		Compare: []Compare{CompareCreate("/a", Equal, 0), CompareMod("/d/", Less, 12).WithPrefix()},
		Success: []RequestOp{OpPut("/a", "v", WithLease(7587883812226513503)), OpDelete("/d/", WithPrefix())},
		Failure: []RequestOp{OpGet("/d/", WithPrefix(), WithKeysOnly(), WithCountOnly())},
	}
	b, err := json.Marshal(txn)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"compare":[{"result":"EQUAL","target":"CREATE","key":"L2E=","create_revision":"0"},` +
		`{"result":"LESS","target":"MOD","key":"L2Qv","range_end":"L2Qw","mod_revision":"12"}],` +
		`"success":[{"request_put":{"key":"L2E=","value":"dg==","lease":"7587883812226513503"}},{"request_delete_range":{"key":"L2Qv","range_end":"L2Qw"}}],` +
		`"failure":[{"request_range":{"key":"L2Qv","range_end":"L2Qw","keys_only":true,"count_only":true}}]}`
	if string(b) != want {
		t.Errorf("txn\n%s\nwant\n%s", b, want)
	}
	for _, c := range []struct{ in, want string }{
		{"/a", "/b"}, {"a\xff", "b"}, {"\xff\xff", "\x00"}, {"", "\x00"},
	} {
		if got := string(PrefixEnd([]byte(c.in))); got != c.want {
			t.Errorf("PrefixEnd(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// fakeGateway serves canned answers inside a test namespace, at
// 127.0.0.1:2379, and records the requests.
type fakeGateway struct {
	mu     sync.Mutex
	reqs   []*http.Request
	bodies []string
	// answer writes the answer to the n-th request (from 0).
	answer func(n int, w http.ResponseWriter, r *http.Request)
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	n := len(g.reqs)
	g.reqs = append(g.reqs, r)
	body, _ := io.ReadAll(r.Body)
	g.bodies = append(g.bodies, string(body))
	g.mu.Unlock()
	g.answer(n, w, r)
}

func (g *fakeGateway) requests() []*http.Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*http.Request(nil), g.reqs...)
}

func serveFake(t *testing.T, ns string, g *fakeGateway) {
	t.Helper()
	l := nstest.OpenIn(t, ns, func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:2379") })
	// Serve ends when OpenIn's cleanup closes the listener.
	go (&http.Server{Handler: g}).Serve(l)
}

// A request goes on to the next endpoint when one refuses the connection
// and stays with the one that answered; "no leader" moves the next
// request on; the require-leader header is sent; with no endpoint
// answering, the request waits for one until its context ends.
func TestFailover(t *testing.T) {
	nstest.NeedRoot(t)
	ns := nstest.NewNS(t, prefix, "fake")
	g := &fakeGateway{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"etcdserver: no leader","code":14,"message":"etcdserver: no leader"}`)
			return
		}
		io.WriteString(w, `{"header":{"revision":"3"},"count":"1","kvs":[{"key":"YQ==","value":"Yg=="}]}`)
	}}
	serveFake(t, ns, g)
	// Nothing listens on 127.0.0.2:2379: the connection is refused.
	c := client(t, ns, "http://127.0.0.2:2379", "http://127.0.0.1:2379/")
	ctx := bounded(t)

	r, err := c.Get(WithRequireLeader(ctx), "a")
	if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "b" || r.Header.Revision != 3 {
		t.Fatalf("get through the second endpoint: %+v %v", r, err)
	}
	if eps := c.Endpoints(); eps[0] != "http://127.0.0.1:2379" {
		t.Errorf("endpoints after the failover: %v, want the one that answered first", eps)
	}
	_, err = c.Get(ctx, "a")
	if !errors.Is(err, ErrNoLeader) {
		t.Errorf("second get: %v, want ErrNoLeader", err)
	}
	if eps := c.Endpoints(); eps[0] != "http://127.0.0.2:2379" {
		t.Errorf("endpoints after no leader: %v, want the other one first", eps)
	}
	if _, err := c.Get(ctx, "a"); err != nil {
		t.Errorf("third get (refused, then answered): %v", err)
	}
	reqs := g.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests reached the gateway, want 3", len(reqs))
	}
	if h := reqs[0].Header.Get("Grpc-Metadata-Hasleader"); h != "true" || reqs[0].URL.Path != "/v3/kv/range" || reqs[0].Method != http.MethodPost {
		t.Errorf("first request: %s %s, hasleader %q", reqs[0].Method, reqs[0].URL.Path, h)
	}
	if h := reqs[1].Header.Get("Grpc-Metadata-Hasleader"); h != "" {
		t.Errorf("a request without WithRequireLeader sent hasleader %q", h)
	}

	// No endpoint takes connections: the request ends with its context.
	dead := client(t, ns, "http://127.0.0.2:2379", "http://127.0.0.3:2379")
	dctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = dead.Put(dctx, "a", "b")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "refused") {
		t.Errorf("no endpoint: %v, want the deadline with the last connection error", err)
	}
	if took := time.Since(start); took < 600*time.Millisecond || took > 2*time.Second {
		t.Errorf("no endpoint: gave up after %v, want at the deadline (700ms)", took)
	}
}

// A member that takes the connection but does not answer a watch does
// not hold it for longer than the dial timeout; a keepalive answer is
// the first message of its stream.
func TestStreamsOnFake(t *testing.T) {
	nstest.NeedRoot(t)
	ns := nstest.NewNS(t, prefix, "fake")
	release := make(chan struct{})
	g := &fakeGateway{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v3/watch":
			<-release
		case "/v3/lease/keepalive":
			io.WriteString(w, `{"result":{"header":{"revision":"4"},"ID":"42","TTL":"10"}}`+"\n")
		}
	}}
	serveFake(t, ns, g)
	defer close(release)
	c := client(t, ns, "http://127.0.0.1:2379")
	start := time.Now()
	_, err := c.Watch(context.Background(), WatchCreateRequest{Key: []byte("/")})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Errorf("a watch nobody answers: %v after %v, want a deadline after the dial timeout (1s)", err, time.Since(start))
	}
	ka, err := c.KeepAliveOnce(bounded(t), 42)
	if err != nil || ka.ID != 42 || ka.TTL != 10 {
		t.Errorf("keepalive: %+v %v", ka, err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.bodies) != 2 || g.bodies[0] != `{"create_request":{"key":"Lw=="}}` || g.bodies[1] != `{"ID":"42"}` {
		t.Errorf("request bodies %q", g.bodies)
	}
}
