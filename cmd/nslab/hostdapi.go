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
	"time"

	"github.com/moby/moby/client"

	"github.com/nslab/nslab/lab"
)

// errNoNslabAPI: the host's daemon is not hostd.
var errNoNslabAPI = errors.New("its daemon has no nslab API")

// hostdAPI speaks to one host's hostd, for hostd's own /nslab/ endpoints,
// which are not part of the Docker API and so have no call in Docker's
// client: it reaches hostd through the Docker client's connection to the
// host's socket and sends plain JSON requests over it.
type hostdAPI struct {
	host   string
	docker *client.Client
	c      *http.Client
}

// hostdOf returns the API of a docker host of the lab; a plain host runs no
// daemon, and a dockerd of the reference runtime has no /nslab/ API.
func hostdOf(l *lab.Lab, host string) (*hostdAPI, error) {
	h, err := l.Host(host)
	if err != nil {
		return nil, err
	}
	if l.Runtime() != lab.RuntimeHostd {
		return nil, fmt.Errorf("lab %s: host %s: %w (it runs %s; only hostd has nslab's own endpoints)", l.ID(), host, errNoNslabAPI, l.Runtime())
	}
	dc, err := h.DockerClient()
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", l.ID(), err)
	}
	dial := dc.Dialer()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) }}
	return &hostdAPI{host: host, docker: dc, c: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

func (a *hostdAPI) close() {
	a.c.CloseIdleConnections()
	a.docker.Close()
}

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
