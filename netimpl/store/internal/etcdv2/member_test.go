package etcdv2

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

// members runs n etcd members (nslab-etcd processes, with the v2 API) in
// one fresh namespace, member i on 127.0.0.(i+1), and returns the
// namespace and the members once all have joined. They stop when the test
// ends.
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
			"-log", filepath.Join(dir, fmt.Sprintf("m%d.log", i+1)), "-timeout", "20s", "-v2"))
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

// Every call the store makes, against a real member: conditions are
// written as the v2 API reads them (a mistaken field name would be
// ignored, so each answer is checked for its effect), and the answers,
// errors included, decode.
func TestMemberCalls(t *testing.T) {
	ns, _ := members(t, 1)
	c := client(t, ns, "http://127.0.0.1:2379")
	ctx := bounded(t)

	created, err := c.Set(ctx, "/docker/network/v1.0/network/n1", "one", SetOptions{PrevExist: PrevNoExist})
	if err != nil || created.Action != "create" || created.Node.ModifiedIndex == 0 || created.Index != created.Node.ModifiedIndex {
		t.Fatalf("create: %+v %v", created, err)
	}
	if _, err := c.Set(ctx, "/docker/network/v1.0/network/n1", "again", SetOptions{PrevExist: PrevNoExist}); !errors.Is(err, ErrNodeExist) {
		t.Errorf("create again: %v, want ErrNodeExist", err)
	}
	if _, err := c.Set(ctx, "/docker/network/v1.0/network/n1", "two", SetOptions{PrevIndex: created.Node.ModifiedIndex + 100}); !errors.Is(err, ErrTestFailed) {
		t.Errorf("swap on a wrong index: %v, want ErrTestFailed", err)
	}
	swapped, err := c.Set(ctx, "/docker/network/v1.0/network/n1", "two", SetOptions{PrevIndex: created.Node.ModifiedIndex})
	if err != nil || swapped.Action != "compareAndSwap" || swapped.PrevNode == nil || swapped.PrevNode.Value != "one" {
		t.Fatalf("swap: %+v %v", swapped, err)
	}
	if _, err := c.Set(ctx, "/docker/network/v1.0/endpoint/n1", "", SetOptions{Dir: true, PrevExist: PrevNoExist}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, "/docker/network/v1.0/endpoint/n1", "", SetOptions{Dir: true, PrevExist: PrevNoExist}); !errors.Is(err, ErrNodeExist) {
		t.Errorf("a directory made twice: %v, want ErrNodeExist", err)
	}
	if _, err := c.Set(ctx, "/docker/nodes/10.0.0.1:2375", "10.0.0.1:2375", SetOptions{TTL: 60 * time.Second}); err != nil {
		t.Fatal(err)
	}

	got, err := c.Get(ctx, "/docker", GetOptions{Recursive: true, Sorted: true, Quorum: true})
	if err != nil {
		t.Fatal(err)
	}
	var flat []string
	var walk func(n *Node)
	walk = func(n *Node) {
		switch {
		case n.Dir:
			flat = append(flat, n.Key+"/")
		case n.TTL > 0:
			flat = append(flat, fmt.Sprintf("%s=%s ttl>0", n.Key, n.Value))
		default:
			flat = append(flat, n.Key+"="+n.Value)
		}
		for _, c := range n.Nodes {
			walk(c)
		}
	}
	walk(got.Node)
	want := "/docker/ /docker/network/ /docker/network/v1.0/ /docker/network/v1.0/endpoint/ /docker/network/v1.0/endpoint/n1/ " +
		"/docker/network/v1.0/network/ /docker/network/v1.0/network/n1=two /docker/nodes/ /docker/nodes/10.0.0.1:2375=10.0.0.1:2375 ttl>0"
	if strings.Join(flat, " ") != want {
		t.Errorf("tree\n%s\nwant\n%s", strings.Join(flat, " "), want)
	}
	if got.Index < swapped.Node.ModifiedIndex {
		t.Errorf("the read's index %d is before the last write's %d", got.Index, swapped.Node.ModifiedIndex)
	}
	if _, err := c.Get(ctx, "/docker/nope", GetOptions{Quorum: true}); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("get of a missing key: %v", err)
	}
	if _, err := c.Delete(ctx, "/docker/network/v1.0/network/n1", DeleteOptions{PrevIndex: created.Node.ModifiedIndex}); !errors.Is(err, ErrTestFailed) {
		t.Errorf("delete on a wrong index: %v, want ErrTestFailed", err)
	}
	if _, err := c.Delete(ctx, "/docker/network/v1.0/network/n1", DeleteOptions{PrevIndex: swapped.Node.ModifiedIndex}); err != nil {
		t.Errorf("compare and delete: %v", err)
	}
	if _, err := c.Delete(ctx, "/docker/network/v1.0/endpoint/n1", DeleteOptions{Dir: true}); err != nil {
		t.Errorf("delete an empty directory: %v", err)
	}
	ms, err := c.Members(ctx)
	if err != nil || len(ms) != 1 || ms[0].Name != "m1" || len(ms[0].ClientURLs) == 0 {
		t.Errorf("members: %+v %v", ms, err)
	}
}

// Waits from an index report every change below their key after it, in
// order, deletions and expiries with the value before; a wait from an
// index older than the member's 1000-event history is refused with
// ErrEventIndexCleared; a wait ends with its context.
func TestMemberWait(t *testing.T) {
	ns, _ := members(t, 1)
	c := client(t, ns, "http://127.0.0.1:2379")
	ctx := bounded(t)

	first, err := c.Set(ctx, "/w/a", "1", SetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, "/x", "not watched", SetOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "/w/a", DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, "/w/b/c", "2", SetOptions{TTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for next := first.Node.ModifiedIndex; len(got) < 4; {
		ev, err := c.Wait(ctx, "/w", next, true)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		prev := "-"
		if ev.PrevNode != nil {
			prev = ev.PrevNode.Value
		}
		got = append(got, fmt.Sprintf("%s %s=%s (was %s)", ev.Action, ev.Node.Key, ev.Node.Value, prev))
		next = ev.Node.ModifiedIndex + 1
	}
	want := "set /w/a=1 (was -); delete /w/a= (was 1); set /w/b/c=2 (was -); expire /w/b/c= (was 2)"
	if strings.Join(got, "; ") != want {
		t.Errorf("events\n%s\nwant\n%s", strings.Join(got, "; "), want)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := c.Wait(wctx, "/w", 0, true); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a wait without change: %v, want its deadline", err)
	}

	// 1000 more changes: the first index has left the history.
	for i := range 1001 {
		if _, err := c.Set(context.Background(), "/x", fmt.Sprint(i), SetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A context of its own: the 1001 writes may have used up the first
	// one's 5 s on a loaded machine.
	_, err = c.Wait(bounded(t), "/w", first.Node.ModifiedIndex, true)
	var e *Error
	if !errors.Is(err, ErrEventIndexCleared) || !errors.As(err, &e) || e.Index <= first.Node.ModifiedIndex+1000 {
		t.Errorf("a wait from a cleared index: %v, want ErrEventIndexCleared with the cluster's index", err)
	}
}

// [E23] With one of two members gone the other has no quorum: a write and
// a quorum read fail when their context ends (the member would hold them
// for seconds), a read from the member's own copy still answers, and a
// client given only the dead member's URL has learnt the other's (Sync).
func TestMemberQuorumLoss(t *testing.T) {
	ns, ms := members(t, 2)
	c := client(t, ns, "http://127.0.0.2:2379")
	ctx := bounded(t)
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if eps := c.Endpoints(); strings.Join(eps, " ") != "http://127.0.0.2:2379 http://127.0.0.1:2379" {
		t.Errorf("endpoints after the sync: %v, want m2's (pinned) and m1's", eps)
	}
	if _, err := c.Set(ctx, "/k", "v", SetOptions{}); err != nil {
		t.Fatal(err)
	}
	ms[1].Kill(t)
	for _, op := range []struct {
		name string
		do   func(context.Context) error
	}{
		{"set", func(ctx context.Context) error { _, err := c.Set(ctx, "/k", "w", SetOptions{}); return err }},
		{"quorum get", func(ctx context.Context) error { _, err := c.Get(ctx, "/k", GetOptions{Quorum: true}); return err }},
	} {
		octx, cancel := context.WithTimeout(context.Background(), time.Second)
		start := time.Now()
		err := op.do(octx)
		took := time.Since(start)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || took > 1500*time.Millisecond {
			t.Errorf("%s without a quorum: %v after %v, want the deadline after 1s", op.name, err, took)
		}
	}
	r, err := c.Get(ctx, "/k", GetOptions{})
	if err != nil || r.Node.Value != "v" {
		t.Errorf("get from the survivor's copy: %+v %v", r, err)
	}
}
