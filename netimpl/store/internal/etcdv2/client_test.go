package etcdv2

import (
	"context"
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

// etcd's v2 error bodies, and bodies that are not etcd's, map to codes.
func TestDecodeError(t *testing.T) {
	for _, c := range []struct {
		status      int
		body        string
		is          error
		code        int
		unavailable bool
	}{
		{404, `{"errorCode":100,"message":"Key not found","cause":"/t/nope","index":7}`, ErrKeyNotFound, 100, false},
		{412, `{"errorCode":101,"message":"Compare failed","cause":"[1 != 6]","index":6}`, ErrTestFailed, 101, false},
		{412, `{"errorCode":105,"message":"Key already exists","cause":"/t/a","index":6}`, ErrNodeExist, 105, false},
		{500, `{"errorCode":300,"message":"Raft Internal Error","cause":"etcdserver: request timed out","index":0}`, ErrRaftInternal, 300, true},
		{400, `{"errorCode":401,"message":"The event in requested index is outdated and cleared","cause":"the requested history has been cleared [18/2]","index":1017}`, ErrEventIndexCleared, 401, false},
		{404, "404 page not found\n", nil, 0, false},
		{503, "", nil, 0, true},
		{502, `<html>bad gateway</html>`, nil, 0, true},
	} {
		e := decodeError(c.status, []byte(c.body))
		if c.is != nil && !errors.Is(e, c.is) {
			t.Errorf("%d %s: %v is not %v", c.status, c.body, e, c.is)
		}
		if e.Code != c.code || e.Unavailable() != c.unavailable || e.Message == "" || e.Status != c.status {
			t.Errorf("%d %s: %#v, want code %d, unavailable %v", c.status, c.body, e, c.code, c.unavailable)
		}
	}
	if e := decodeError(400, []byte(`{"errorCode":401,"message":"m","index":1017}`)); e.Index != 1017 {
		t.Errorf("index %d, want the cluster's 1017", e.Index)
	}
	if errors.Is(ErrKeyNotFound, ErrNodeExist) {
		t.Error("key not found matched key exists")
	}
}

// fakeMember serves canned answers inside a test namespace, at
// 127.0.0.1:2379, and records the requests.
type fakeMember struct {
	mu     sync.Mutex
	reqs   []*http.Request
	bodies []string
	// answer writes the answer to the n-th request (from 0).
	answer func(n int, w http.ResponseWriter, r *http.Request)
}

func (g *fakeMember) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	n := len(g.reqs)
	g.reqs = append(g.reqs, r)
	body, _ := io.ReadAll(r.Body)
	g.bodies = append(g.bodies, string(body))
	g.mu.Unlock()
	g.answer(n, w, r)
}

func serveFake(t *testing.T, ns string, g *fakeMember) {
	t.Helper()
	l := nstest.OpenIn(t, ns, func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:2379") })
	// Serve ends when OpenIn's cleanup closes the listener.
	go (&http.Server{Handler: g}).Serve(l)
}

// A request goes on to the next endpoint when one refuses the connection
// and stays with the one that answered; a raft error moves the next
// request on; requests are written as the v2 API reads them (keys as
// paths, conditions as form fields); with no endpoint answering, a request
// waits for one until its context ends.
func TestFailover(t *testing.T) {
	nstest.NeedRoot(t)
	ns := nstest.NewNS(t, prefix, "fake")
	g := &fakeMember{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Etcd-Index", "42")
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"errorCode":300,"message":"Raft Internal Error","cause":"etcdserver: request timed out","index":0}`)
			return
		}
		io.WriteString(w, `{"action":"compareAndSwap","node":{"key":"/docker/nodes/192.168.8.150:2375","value":"v","modifiedIndex":42,"createdIndex":9}}`)
	}}
	serveFake(t, ns, g)
	// Nothing listens on 127.0.0.2:2379: the connection is refused.
	c := client(t, ns, "http://127.0.0.2:2379", "http://127.0.0.1:2379/")
	ctx := bounded(t)

	r, err := c.Set(ctx, "/docker/nodes/192.168.8.150:2375", "v", SetOptions{PrevIndex: 9, TTL: 1500 * time.Millisecond})
	if err != nil || r.Node.ModifiedIndex != 42 || r.Index != 42 || r.Action != "compareAndSwap" {
		t.Fatalf("set through the second endpoint: %+v %v", r, err)
	}
	if eps := c.Endpoints(); eps[0] != "http://127.0.0.1:2379" {
		t.Errorf("endpoints after the failover: %v, want the one that answered first", eps)
	}
	if _, err := c.Get(ctx, "/docker", GetOptions{Recursive: true, Quorum: true}); !errors.Is(err, ErrRaftInternal) {
		t.Errorf("second request: %v, want ErrRaftInternal", err)
	}
	if eps := c.Endpoints(); eps[0] != "http://127.0.0.2:2379" {
		t.Errorf("endpoints after a raft error: %v, want the other one first", eps)
	}
	if _, err := c.Delete(ctx, "/docker/a", DeleteOptions{PrevIndex: 7}); err != nil {
		t.Errorf("third request (refused, then answered): %v", err)
	}
	g.mu.Lock()
	reqs, bodies := g.reqs, g.bodies
	g.mu.Unlock()
	if len(reqs) != 3 {
		t.Fatalf("%d requests reached the member, want 3", len(reqs))
	}
	for i, want := range []string{
		"PUT /v2/keys/docker/nodes/192.168.8.150:2375 prevIndex=9&ttl=2&value=v",
		"GET /v2/keys/docker?quorum=true&recursive=true ",
		"DELETE /v2/keys/docker/a?prevIndex=7 ",
	} {
		if got := reqs[i].Method + " " + reqs[i].URL.RequestURI() + " " + bodies[i]; got != want {
			t.Errorf("request %d: %q, want %q", i, got, want)
		}
	}
	if ct := reqs[0].Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("a set's content type %q", ct)
	}

	// No endpoint takes connections: the request ends with its context.
	dead := client(t, ns, "http://127.0.0.2:2379", "http://127.0.0.3:2379")
	dctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = dead.Set(dctx, "a", "b", SetOptions{})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "refused") {
		t.Errorf("no endpoint: %v, want the deadline with the last connection error", err)
	}
	if took := time.Since(start); took < 600*time.Millisecond || took > 2*time.Second {
		t.Errorf("no endpoint: gave up after %v, want at the deadline (700ms)", took)
	}
}

// A member that takes the connection but does not answer a wait does not
// hold it for longer than the dial timeout; a wait's answer is one change.
func TestWaitOnFake(t *testing.T) {
	nstest.NeedRoot(t)
	ns := nstest.NewNS(t, prefix, "fake")
	release := make(chan struct{})
	g := &fakeMember{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			<-release
			return
		}
		w.Header().Set("X-Etcd-Index", "9")
		io.WriteString(w, `{"action":"delete","node":{"key":"/w/a","modifiedIndex":9,"createdIndex":8},"prevNode":{"key":"/w/a","value":"1","modifiedIndex":8,"createdIndex":8}}`+"\n")
	}}
	serveFake(t, ns, g)
	defer close(release)
	c := client(t, ns, "http://127.0.0.1:2379")
	start := time.Now()
	_, err := c.Wait(context.Background(), "/w", 5, true)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Errorf("a wait nobody answers: %v after %v, want a deadline after the dial timeout (1s)", err, time.Since(start))
	}
	ev, err := c.Wait(context.Background(), "/w", 9, true)
	if err != nil || ev.Action != "delete" || ev.Node.ModifiedIndex != 9 || ev.PrevNode.Value != "1" || ev.Index != 9 {
		t.Errorf("wait: %+v %v", ev, err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if u := g.reqs[1].URL.RequestURI(); u != "/v2/keys/w?recursive=true&wait=true&waitIndex=9" {
		t.Errorf("wait request %s", u)
	}
}
