package tclab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeDaemon answers every request with its name, and a container or exec
// creation with an id of its own.
type fakeDaemon struct {
	name string
	mu   sync.Mutex
	got  []string
}

func (d *fakeDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	d.got = append(d.got, r.Method+" "+r.URL.Path)
	n := len(d.got)
	d.mu.Unlock()
	if r.Method == http.MethodPost && (strings.HasSuffix(r.URL.Path, "/containers/create") || strings.HasSuffix(r.URL.Path, "/exec")) {
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]string{"Id": fmt.Sprintf("%s%060d", d.name[:4], n)})
		return
	}
	io.WriteString(w, d.name)
}

func serveUnix(t *testing.T, path string, h http.Handler) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// The router sends a creation to the chosen host and everything about the
// created container or exec instance to the host that made it, whatever
// the choice is by then; a request that names nothing it knows, outside a
// choice, is refused in Docker's error shape.
func TestRouter(t *testing.T) {
	dir := t.TempDir()
	a, b := &fakeDaemon{name: "node"}, &fakeDaemon{name: "nodb"}
	serveUnix(t, filepath.Join(dir, "a.sock"), a)
	serveUnix(t, filepath.Join(dir, "b.sock"), b)
	r := newRouter(filepath.Join(dir, "router", "docker.sock"))
	relA, err := r.use("lab-a", filepath.Join(dir, "a.sock"))
	if err != nil {
		t.Fatal(err)
	}
	relB, err := r.use("lab-b", filepath.Join(dir, "b.sock"))
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", r.path)
	}}}
	call := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://docker"+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := call("GET", "/v1.41/info"); code != http.StatusBadGateway || !strings.Contains(body, "no lab host chosen") {
		t.Fatalf("outside a choice: %d %s", code, body)
	}
	r.choose("lab-b")
	if _, body := call("GET", "/v1.41/images/busybox/json"); body != "nodb" {
		t.Fatalf("image lookup went to %s", body)
	}
	_, body := call("POST", "/v1.41/containers/create?name=tc01")
	var created struct{ ID string }
	json.Unmarshal([]byte(body), &created)
	r.choose("lab-a")
	for _, p := range []string{"/v1.41/containers/" + created.ID + "/start", "/v1.41/containers/tc01/json", "/containers/" + created.ID[:12] + "/logs"} {
		if _, got := call("GET", p); got != "nodb" {
			t.Fatalf("%s went to %s", p, got)
		}
	}
	if _, got := call("DELETE", "/v1.41/containers/"+created.ID); got != "nodb" {
		t.Fatalf("DELETE went to %s", got)
	}
	_, body = call("POST", "/v1.41/containers/tc01/exec")
	var ex struct{ ID string }
	json.Unmarshal([]byte(body), &ex)
	r.choose("")
	if _, got := call("POST", "/v1.41/exec/"+ex.ID+"/start"); got != "nodb" {
		t.Fatalf("exec start went to %s", got)
	}
	relB()
	if code, body := call("GET", "/v1.41/containers/tc01/json"); code != http.StatusBadGateway {
		t.Fatalf("a released host's container: %d %s", code, body)
	}
	relA()
	if _, err := net.Dial("unix", r.path); err == nil {
		t.Fatal("the router still listens after its last release")
	}
}
