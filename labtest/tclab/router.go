package tclab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// router is a Docker Engine API endpoint on a unix socket of this process
// that sends each request to one lab host's daemon: the request's
// container or exec instance decides where it goes, and what names neither
// (a container's creation, an image lookup, /info) goes to the host chosen
// for the request being made (Run holds that choice while it creates).
type router struct {
	path string

	mu        sync.Mutex
	ln        net.Listener
	srv       *http.Server
	users     int
	current   string            // the chosen host's key, during a Run
	sockets   map[string]string // host key → daemon socket
	container map[string]string // container id or name → host key
	exec      map[string]string // exec id → host key
}

func newRouter(path string) *router {
	return &router{path: path, sockets: map[string]string{}, container: map[string]string{}, exec: map[string]string{}}
}

// use registers a host's daemon socket under key and makes sure the router
// listens; release undoes it, and the last release stops the listener and
// removes its socket.
func (r *router) use(key, socket string) (release func(), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln == nil {
		if err := r.listen(); err != nil {
			return nil, err
		}
	}
	r.users++
	r.sockets[key] = socket
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.sockets, key)
		for id, k := range r.container {
			if k == key {
				delete(r.container, id)
			}
		}
		for id, k := range r.exec {
			if k == key {
				delete(r.exec, id)
			}
		}
		if r.users--; r.users == 0 {
			r.srv.Close()
			r.ln, r.srv = nil, nil
			os.Remove(r.path)
			os.Remove(filepath.Dir(r.path)) // when empty
		}
	}, nil
}

// listen opens the socket (r.mu held).
func (r *router) listen() error {
	if err := os.MkdirAll(filepath.Dir(r.path), 0o700); err != nil {
		return err
	}
	os.Remove(r.path) // a socket left by a crash of a process with this pid
	ln, err := net.Listen("unix", r.path)
	if err != nil {
		return fmt.Errorf("tclab: listen on %s: %w", r.path, err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite:        r.rewrite,
		Transport:      &http.Transport{DialContext: r.dial, DisableKeepAlives: true},
		ModifyResponse: r.learn,
		ErrorHandler:   r.refuse,
	}
	r.ln, r.srv = ln, &http.Server{Handler: proxy}
	go r.srv.Serve(ln)
	return nil
}

// choose makes key the host of the requests that name no container.
func (r *router) choose(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current = key
}

var (
	versionRE = regexp.MustCompile(`^/v[0-9]+\.[0-9]+`)
	// A container's own paths: /containers/ID/start, DELETE /containers/ID
	// (not /containers/create, /containers/json, /containers/prune,
	// which name none and go to the chosen host).
	containerRE = regexp.MustCompile(`^/containers/([^/]+)(/|$)`)
	execRE      = regexp.MustCompile(`^/exec/([^/]+)/`)
)

// errNoHost: a request names nothing the router knows, outside any Run.
var errNoHost = errors.New("no lab host chosen for this request: run testcontainers requests on lab hosts through tclab.Run")

// hostOf is the key of the host a request goes to.
func (r *router) hostOf(path string) (string, error) {
	p := versionRE.ReplaceAllString(path, "")
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := execRE.FindStringSubmatch(p); m != nil {
		if k, ok := r.exec[m[1]]; ok {
			return k, nil
		}
	}
	if m := containerRE.FindStringSubmatch(p); m != nil {
		if k, ok := r.lookupContainer(m[1]); ok {
			return k, nil
		}
	}
	if r.current == "" {
		return "", errNoHost
	}
	return r.current, nil
}

// lookupContainer finds a container by name, id or unique id prefix
// (r.mu held).
func (r *router) lookupContainer(ref string) (string, bool) {
	if k, ok := r.container[strings.TrimPrefix(ref, "/")]; ok {
		return k, true
	}
	found := ""
	for id, k := range r.container {
		if len(ref) >= 12 && strings.HasPrefix(id, ref) {
			if found != "" && found != k {
				return "", false
			}
			found = k
		}
	}
	return found, found != ""
}

type hostKey struct{}

func (r *router) rewrite(pr *httputil.ProxyRequest) {
	key, err := r.hostOf(pr.In.URL.Path)
	if err != nil {
		// refuse answers it: the dial fails with this error.
		pr.Out = pr.Out.WithContext(context.WithValue(pr.Out.Context(), hostKey{}, err))
		key = "none"
	}
	pr.Out.URL.Scheme, pr.Out.URL.Host = "http", key
	pr.Out.Host = "docker"
}

// dial connects to the daemon socket of the host the request's URL names.
func (r *router) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	if err, ok := ctx.Value(hostKey{}).(error); ok {
		return nil, err
	}
	key, _, _ := strings.Cut(addr, ":")
	r.mu.Lock()
	socket, ok := r.sockets[key]
	r.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("lab host %s is gone", key)
	}
	var d net.Dialer
	return d.DialContext(ctx, "unix", socket)
}

// learn records where a created container or exec instance lives.
func (r *router) learn(resp *http.Response) error {
	req := resp.Request
	if req.Method != http.MethodPost || resp.StatusCode != http.StatusCreated {
		return nil
	}
	p := versionRE.ReplaceAllString(req.URL.Path, "")
	isExec := containerRE.MatchString(p) && strings.HasSuffix(p, "/exec")
	if p != "/containers/create" && !isExec {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return err
	}
	var created struct{ ID string }
	if err := json.Unmarshal(body, &created); err != nil || created.ID == "" {
		return nil
	}
	key, _, _ := strings.Cut(req.URL.Host, ":")
	r.mu.Lock()
	defer r.mu.Unlock()
	if isExec {
		r.exec[created.ID] = key
		return nil
	}
	r.container[created.ID] = key
	if name := req.URL.Query().Get("name"); name != "" {
		r.container[name] = key
	}
	return nil
}

// refuse answers a request the router could not send, in Docker's error
// shape.
func (r *router) refuse(w http.ResponseWriter, req *http.Request, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadGateway)
	json.NewEncoder(w).Encode(map[string]string{"message": "nslab lab router: " + req.Method + " " + req.URL.Path + ": " + err.Error()})
}
