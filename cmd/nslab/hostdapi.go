package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/nslab/nslab/lab"
)

// errNoNslabAPI: the host's daemon is not hostd.
var errNoNslabAPI = errors.New("its daemon has no nslab API")

// hostdAPI speaks to one host's hostd over its socket, for hostd's own
// /nslab/ endpoints (the Docker API is the docker CLI's business).
type hostdAPI struct {
	host string
	c    *http.Client
	tr   *http.Transport
}

// hostdOf returns the API of a docker host of the lab; a plain host runs no
// daemon.
func hostdOf(l *lab.Lab, host string) (*hostdAPI, error) {
	h, err := l.Host(host)
	if err != nil {
		return nil, err
	}
	if h.DockerHost() == "" {
		return nil, fmt.Errorf("lab %s: host %s is of kind %s: it runs no hostd", l.ID(), host, h.Spec.Kind)
	}
	if _, err := os.Stat(h.Socket()); err != nil {
		return nil, fmt.Errorf("lab %s: host %s: hostd socket: %w", l.ID(), host, err)
	}
	socket := h.Socket()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
	return &hostdAPI{host: host, c: &http.Client{Transport: tr, Timeout: 30 * time.Second}, tr: tr}, nil
}

func (a *hostdAPI) close() { a.tr.CloseIdleConnections() }

// call sends a request with a JSON body (nil: none) and decodes a JSON
// answer into out (nil: ignored); an answer of 400 or more is an error
// carrying hostd's message.
func (a *hostdAPI) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://hostd"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return fmt.Errorf("host %s: %w", a.host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("host %s: %s %s: %w", a.host, method, path, err)
	}
	if resp.StatusCode >= 400 {
		var e struct{ Message string }
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			if resp.StatusCode == http.StatusNotFound && e.Message == "page not found" {
				// A dockerd of the reference runtime has no /nslab/ API.
				return fmt.Errorf("host %s: %w (%s; only hostd has nslab's own endpoints)", a.host, errNoNslabAPI, path)
			}
			return fmt.Errorf("host %s: %s", a.host, e.Message)
		}
		return fmt.Errorf("host %s: %s %s: %s: %s", a.host, method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("host %s: %s %s: decode answer: %w", a.host, method, path, err)
		}
	}
	return nil
}
