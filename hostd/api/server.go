// Package api is hostd's Docker Engine API 1.41 server: the routes, the
// decoding of requests (with the refusal, by name, of what hostd does not
// do), Docker's views, status codes and streams (attach, logs, exec,
// events, cp, export, load, save), over the operations of a hostd.Daemon;
// and Main, the program nslab-hostd runs on every docker host.
package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nslab/nslab/hostd"

	"github.com/nslab/nslab/hostd/errdefs"
)

// The version hostd claims: Docker 20.10's engine and API.
const (
	apiVersion    = "1.41"
	minAPIVersion = "1.12"
	engineVersion = "20.10.24"
	gitCommit     = "5d6db84"
)

// Media type of hijacked streams below API 1.42.
const rawStream = "application/vnd.docker.raw-stream"

// versionPrefix matches the /vN.NN prefix every client may put in front
// of a path; any version is accepted.
var versionPrefix = regexp.MustCompile(`^/v[0-9]+(\.[0-9]+)*/`)

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// server is the Docker Engine API of one Daemon.
type server struct {
	d   *hostd.Daemon
	mux *http.ServeMux
	log *log.Logger
}

// Handler returns the Docker Engine API of d.
func Handler(d *hostd.Daemon) http.Handler {
	s := &server{d: d, mux: http.NewServeMux(), log: d.Log()}
	s.routes()
	return s
}

func (s *server) handle(pattern string, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, err)
		}
	})
}

// ServeHTTP strips the version prefix, sets the headers dockerd sets on
// every answer and routes; an unknown route is Docker's 404.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h := w.Header()
	h.Set("Api-Version", apiVersion)
	h.Set("Ostype", "linux")
	h.Set("Server", "Docker/"+engineVersion+" (linux)")
	if m := versionPrefix.FindString(r.URL.Path); m != "" {
		r.URL.Path = r.URL.Path[len(m)-1:]
		r.URL.RawPath = ""
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		writeError(rec, errdefs.NotFound("page not found"))
	} else {
		s.mux.ServeHTTP(rec, r)
	}
	s.log.Printf("%s %s %d %s", r.Method, r.URL.RequestURI(), rec.status, time.Since(start).Round(time.Microsecond))
}

// statusRecorder remembers the status for the request log. Unwrap lets
// http.ResponseController reach the connection for Flush and Hijack.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func writeError(w http.ResponseWriter, err error) {
	if err == errdefs.ErrNotModified {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	code, msg := errdefs.Status(err)
	writeJSON(w, code, map[string]string{"message": msg})
}

// writeJSON answers v as Docker's httputils.WriteJSON does: "<", ">" and
// "&" as they are, not escaped.
func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// decodeBody reads a JSON body; an empty body leaves v as it is.
func decodeBody(r *http.Request, v any) error {
	err := json.NewDecoder(r.Body).Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	return errdefs.BadRequest("%s", err.Error())
}

// boolValue is Docker's httputils.BoolValue.
func boolValue(r *http.Request, k string) bool {
	switch strings.ToLower(strings.TrimSpace(r.FormValue(k))) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}

// intValue reads an optional integer parameter.
func intValue(r *http.Request, k string) (*int, error) {
	v := r.FormValue(k)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, errdefs.BadRequest("invalid value for %s: %s", k, v)
	}
	return &n, nil
}

// hijack takes over the connection and writes the stream's response head
// the way dockerd does: 101 UPGRADED when the client asked to upgrade,
// else 200 OK, with the headers set so far.
func hijack(w http.ResponseWriter, r *http.Request) (net.Conn, *bufio.Reader, error) {
	// Whatever is left of the request body would otherwise be read as the
	// client's stdin.
	io.Copy(io.Discard, r.Body)
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil, err
	}
	var head strings.Builder
	if _, upgrade := r.Header["Upgrade"]; upgrade {
		fmt.Fprintf(&head, "HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n", rawStream)
	} else {
		fmt.Fprintf(&head, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n", rawStream)
	}
	w.Header().WriteSubset(&head, map[string]bool{"Content-Type": true})
	head.WriteString("\r\n")
	if _, err := io.WriteString(conn, head.String()); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, brw.Reader, nil
}

func (s *server) routes() {
	s.nslabRoutes()
	s.handle("GET /_ping", s.ping)
	s.handle("GET /version", s.version)
	s.handle("GET /info", s.info)
	s.handle("GET /events", s.events)
	s.imageRoutes()

	s.handle("GET /networks", s.networkList)
	s.handle("GET /networks/{$}", s.networkList)
	s.handle("GET /networks/{id}", s.networkInspect)
	s.handle("POST /networks/create", s.networkCreate)
	s.handle("DELETE /networks/{id}", s.networkDelete)
	s.handle("POST /networks/{id}/connect", s.networkConnect)
	s.handle("POST /networks/{id}/disconnect", s.networkDisconnect)
	s.handle("POST /networks/prune", s.networkPrune)

	s.handle("POST /containers/create", s.containerCreate)
	s.handle("GET /containers/json", s.containerList)
	s.handle("GET /containers/{id}/json", s.containerInspect)
	s.handle("POST /containers/{id}/start", s.containerStart)
	s.handle("POST /containers/{id}/stop", s.containerStop)
	s.handle("POST /containers/{id}/restart", s.containerRestart)
	s.handle("POST /containers/{id}/kill", s.containerKill)
	s.handle("POST /containers/{id}/wait", s.containerWait)
	s.handle("DELETE /containers/{id}", s.containerDelete)
	s.handle("POST /containers/{id}/attach", s.containerAttach)
	s.handle("GET /containers/{id}/logs", s.containerLogs)
	s.handle("POST /containers/{id}/resize", s.containerResize)
	s.handle("POST /containers/{id}/rename", s.containerRename)
	s.handle("GET /containers/{id}/top", s.containerTop)
	s.handle("POST /containers/prune", s.containerPrune)

	s.handle("GET /containers/{id}/archive", s.archiveGet)
	s.handle("HEAD /containers/{id}/archive", s.archiveHead)
	s.handle("PUT /containers/{id}/archive", s.archivePut)
	s.handle("GET /containers/{id}/export", s.containerExport)
	s.handle("POST /commit", s.commit)
	s.handle("POST /build", s.build)

	s.handle("GET /volumes", s.volumeList)
	s.handle("POST /volumes/create", s.volumeCreate)
	s.handle("GET /volumes/{name}", s.volumeInspect)
	s.handle("DELETE /volumes/{name}", s.volumeDelete)
	s.handle("POST /volumes/prune", s.volumePrune)

	s.handle("POST /containers/{id}/exec", s.execCreate)
	s.handle("POST /exec/{id}/start", s.execStart)
	s.handle("POST /exec/{id}/resize", s.execResize)
	s.handle("GET /exec/{id}/json", s.execInspect)
}
