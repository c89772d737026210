package etcdv3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/etcdmember/etcdtest"
	"github.com/nslab/nslab/netns/nstest"
	"github.com/nslab/nslab/netns/probe"
)

var prefix = nstest.Prefix("ev3")

func TestMain(m *testing.M) { nstest.Main(m, prefix, etcdtest.Cleanup) }

// members runs n etcd members (membermain processes) in one fresh
// namespace, member i on 127.0.0.(i+1), and returns the namespace and the
// members once all have joined. They stop when the test ends.
func members(t *testing.T, n int) (string, []*etcdtest.Member) {
	t.Helper()
	nstest.NeedRoot(t)
	ns := nstest.NewNS(t, prefix, "etcd")
	var peers []string
	for i := range n {
		peers = append(peers, fmt.Sprintf("m%d=127.0.0.%d", i+1, i+1))
	}
	var ms []*etcdtest.Member
	t.Cleanup(func() {
		for _, m := range ms {
			m.Stop()
		}
	})
	dir := t.TempDir()
	for i := range n {
		ms = append(ms, etcdtest.Start(t, ns, "-name", fmt.Sprintf("m%d", i+1),
			"-data-dir", filepath.Join(dir, fmt.Sprintf("m%d", i+1)),
			"-advertise", fmt.Sprintf("127.0.0.%d", i+1), "-cluster", strings.Join(peers, ","),
			"-log", filepath.Join(dir, fmt.Sprintf("m%d.log", i+1)), "-timeout", "20s"))
	}
	for _, m := range ms {
		m.WaitReady(t, 20*time.Second)
	}
	return ns, ms
}

// client is a Client whose connections are made inside ns.
func client(t *testing.T, ns string, endpoints ...string) *Client {
	t.Helper()
	c, err := New(Config{Endpoints: endpoints, DialTimeout: time.Second,
		DialContext: func(ctx context.Context, addr string) (net.Conn, error) {
			return probe.DialContext(ctx, ns, "tcp", addr)
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Every call the store makes, against a real member: the requests are
// encoded as the gateway reads them (a mistaken field name would be
// ignored, so each answer is checked for its effect), and the answers,
// errors included, decode.
func TestGatewayCalls(t *testing.T) {
	ns, _ := members(t, 1)
	c := client(t, ns, "http://127.0.0.1:2379")
	ctx := WithRequireLeader(bounded(t))

	put, err := c.Put(ctx, "/d/a", "1")
	if err != nil {
		t.Fatal(err)
	}
	if put.Header.Revision < 2 || put.Header.MemberID == 0 {
		t.Errorf("put header %+v", put.Header)
	}
	if _, err := c.Put(ctx, "/d/b", "2"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "/e", "other"); err != nil {
		t.Fatal(err)
	}
	r, err := c.Get(ctx, "/d/", WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Kvs) != 2 || string(r.Kvs[0].Key) != "/d/a" || string(r.Kvs[0].Value) != "1" || r.Kvs[0].ModRevision != put.Header.Revision || r.Count != 2 {
		t.Errorf("prefix get: %+v", r)
	}
	if r, err := c.Get(ctx, "/d/", WithPrefix(), WithKeysOnly()); err != nil || len(r.Kvs) != 2 || r.Kvs[1].Value != nil {
		t.Errorf("keys only: %+v %v", r, err)
	}
	if r, err := c.Get(ctx, "/d/", WithPrefix(), WithCountOnly()); err != nil || len(r.Kvs) != 0 || r.Count != 2 {
		t.Errorf("count only: %+v %v", r, err)
	}
	if r, err := c.Get(ctx, "/none"); err != nil || len(r.Kvs) != 0 || r.Count != 0 || r.Header.Revision == 0 {
		t.Errorf("absent key: %+v %v", r, err)
	}

	// A transaction whose comparisons hold, on a create revision of 0
	// (absent) and on a prefix's mod revision.
	txn, err := c.Txn(ctx, TxnRequest{
		Compare: []Compare{CompareCreate("/d/c", Equal, 0), CompareMod("/d/", Less, r.Header.Revision+1).WithPrefix()},
		Success: []RequestOp{OpPut("/d/c", "3"), OpGet("/d/", WithPrefix(), WithCountOnly())},
		Failure: []RequestOp{OpGet("/d/c")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !txn.Succeeded || len(txn.Responses) != 2 || txn.Responses[0].Put == nil || txn.Responses[1].Range == nil || txn.Responses[1].Range.Count != 3 {
		t.Errorf("txn that holds: %+v", txn)
	}
	// The same again fails (the key exists now) and runs the else branch.
	txn, err = c.Txn(ctx, TxnRequest{
		Compare: []Compare{CompareCreate("/d/c", Equal, 0)},
		Success: []RequestOp{OpPut("/d/c", "4")},
		Failure: []RequestOp{OpGet("/d/c")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if txn.Succeeded || len(txn.Responses) != 1 || txn.Responses[0].Range == nil || string(txn.Responses[0].Range.Kvs[0].Value) != "3" {
		t.Errorf("txn that fails: %+v", txn)
	}
	if d, err := c.Delete(ctx, "/d/", WithPrefix()); err != nil || d.Deleted != 3 {
		t.Errorf("prefix delete: %+v %v", d, err)
	}

	// Leases: a key under a lease goes with it; a revoked lease is not
	// found any more, for a put, a keepalive (TTL 0) and a revoke.
	g, err := c.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	if g.ID == 0 || g.TTL != 30 {
		t.Errorf("grant: %+v", g)
	}
	if _, err := c.Put(ctx, "/l", "x", WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Get(ctx, "/l"); err != nil || len(r.Kvs) != 1 || r.Kvs[0].Lease != g.ID {
		t.Errorf("leased key: %+v %v", r, err)
	}
	ka, err := c.KeepAliveOnce(ctx, g.ID)
	if err != nil || ka.ID != g.ID || ka.TTL != 30 {
		t.Errorf("keepalive: %+v %v", ka, err)
	}
	if err := c.Revoke(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Get(ctx, "/l"); err != nil || len(r.Kvs) != 0 {
		t.Errorf("leased key after the revoke: %+v %v", r, err)
	}
	if ka, err := c.KeepAliveOnce(ctx, g.ID); err != nil || ka.TTL > 0 {
		t.Errorf("keepalive of a revoked lease: %+v %v, want TTL 0", ka, err)
	}
	_, err = c.Put(ctx, "/l", "x", WithLease(g.ID))
	var e *Error
	if !errors.Is(err, ErrLeaseNotFound) || !errors.As(err, &e) || e.Code != CodeNotFound {
		t.Errorf("put under a revoked lease: %v (%T), want ErrLeaseNotFound", err, err)
	}
	if err := c.Revoke(ctx, g.ID); !errors.Is(err, ErrLeaseNotFound) {
		t.Errorf("revoke twice: %v, want ErrLeaseNotFound", err)
	}

	ml, err := c.MemberList(ctx)
	if err != nil || len(ml.Members) != 1 || ml.Members[0].Name != "m1" || ml.Members[0].ID == 0 ||
		len(ml.Members[0].ClientURLs) != 1 || ml.Members[0].ClientURLs[0] != "http://127.0.0.1:2379" {
		t.Errorf("member list: %+v %v", ml, err)
	}
}

// A watch from a revision reports the puts and deletes after it, in
// order, with their revisions; one from a compacted revision is canceled
// with ErrCompacted; Close ends a watch at once.
func TestGatewayWatch(t *testing.T) {
	ns, _ := members(t, 1)
	c := client(t, ns, "http://127.0.0.1:2379")
	ctx := bounded(t)

	first, err := c.Put(ctx, "/w/a", "1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "/x", "not watched"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "/w/a"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Watch(WithRequireLeader(ctx), WatchCreateRequest{Key: []byte("/w/"), RangeEnd: PrefixEnd([]byte("/w/")), StartRevision: first.Header.Revision})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := w.Recv()
	if err != nil || !resp.Created {
		t.Fatalf("first answer %+v %v, want created", resp, err)
	}
	later, err := c.Put(ctx, "/w/b", "2")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 3 {
		resp, err := w.Recv()
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		if resp.Err() != nil {
			t.Fatalf("after %q: %v", got, resp.Err())
		}
		for _, ev := range resp.Events {
			got = append(got, fmt.Sprintf("%d %s %s=%s", ev.Type, ev.Kv.Key, ev.Kv.Value, fmt.Sprint(ev.Kv.ModRevision)))
		}
	}
	want := []string{
		fmt.Sprintf("0 /w/a 1=%d", first.Header.Revision),
		fmt.Sprintf("1 /w/a =%d", first.Header.Revision+2),
		fmt.Sprintf("0 /w/b 2=%d", later.Header.Revision),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	done := make(chan error, 1)
	go func() {
		_, err := w.Recv()
		done <- err
	}()
	w.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Recv after Close returned an answer")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Recv still blocked 2s after Close")
	}

	// Compact up to the last revision: a watch from the first is refused.
	compact := struct {
		Revision int64 `json:"revision,string"`
	}{later.Header.Revision}
	var out struct{}
	if err := c.call(ctx, "/v3/kv/compaction", compact, &out); err != nil {
		t.Fatal(err)
	}
	w, err = c.Watch(ctx, WatchCreateRequest{Key: []byte("/w/"), RangeEnd: PrefixEnd([]byte("/w/")), StartRevision: first.Header.Revision})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for {
		resp, err := w.Recv()
		if err != nil {
			t.Fatalf("watch from a compacted revision: %v", err)
		}
		if resp.Created && !resp.Canceled {
			continue
		}
		if err := resp.Err(); !errors.Is(err, ErrCompacted) || resp.CompactRevision != later.Header.Revision {
			t.Errorf("watch from a compacted revision: %+v, err %v; want ErrCompacted at %d", resp, err, later.Header.Revision)
		}
		break
	}
}

// [E23] "Require leader" reaches the server: with one of two members
// gone, the other, once it knows it has no leader, refuses at once with
// ErrNoLeader (a request without it would wait), and a watch that
// requires a leader ends. A client given only the dead member's URL has
// learnt the other's (Sync) and goes on to it.
func TestGatewayRequireLeader(t *testing.T) {
	ns, ms := members(t, 2)
	// A client given m2's URL learns m1's from the member list.
	c := client(t, ns, "http://127.0.0.2:2379")
	ctx := bounded(t)
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if eps := c.Endpoints(); strings.Join(eps, " ") != "http://127.0.0.2:2379 http://127.0.0.1:2379" {
		t.Errorf("endpoints after the sync: %v, want m2's (pinned) and m1's", eps)
	}
	if _, err := c.Put(ctx, "/k", "v"); err != nil {
		t.Fatal(err)
	}
	// The watch is on the member that stays.
	w, err := client(t, ns, "http://127.0.0.1:2379").Watch(WithRequireLeader(context.Background()), WatchCreateRequest{Key: []byte("/k")})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if resp, err := w.Recv(); err != nil || !resp.Created {
		t.Fatalf("watch: %+v %v", resp, err)
	}
	watchEnd := make(chan error, 1)
	go func() {
		for {
			resp, err := w.Recv()
			if err == nil {
				err = resp.Err()
			}
			if err != nil {
				watchEnd <- err
				return
			}
		}
	}()

	ms[1].Kill(t)
	killed := time.Now()
	// The survivor notices within a few election timeouts (500 ms).
	var last error
	for time.Since(killed) < 10*time.Second {
		rctx, cancel := context.WithTimeout(WithRequireLeader(context.Background()), 2*time.Second)
		start := time.Now()
		_, last = c.Get(rctx, "/k")
		took := time.Since(start)
		cancel()
		if errors.Is(last, ErrNoLeader) {
			t.Logf("%v after the kill: refused in %v: %v", time.Since(killed).Round(time.Millisecond), took.Round(time.Millisecond), last)
			if took > 500*time.Millisecond {
				t.Errorf("no leader: refused after %v, want at once", took)
			}
			var e *Error
			if !errors.As(last, &e) || !e.Unavailable() {
				t.Errorf("no leader: %#v is not Unavailable", last)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !errors.Is(last, ErrNoLeader) {
		t.Fatalf("10s after the kill: %v, want ErrNoLeader", last)
	}
	// Without the header the member waits for a leader instead.
	rctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, err = c.Get(rctx, "/k")
	cancel()
	if errors.Is(err, ErrNoLeader) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("without require leader: %v, want the deadline", err)
	}
	select {
	case err := <-watchEnd:
		t.Logf("the watch ended: %v", err)
		if !errors.Is(err, ErrNoLeader) {
			t.Errorf("the watch ended with %v, want ErrNoLeader", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the watch that requires a leader still runs 5s after the survivor lost it")
	}
}
