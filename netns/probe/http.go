package probe

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"
)

// MaxBody is the most of a response body HTTPGet reads.
const MaxBody = 4 << 20

// Transport returns an http.Transport whose connections are opened inside
// the namespace at ns. Keep-alives are off, so no connection outlives its
// request, and no proxy from the environment is used. URLs must name hosts
// by IP address.
func Transport(ns string) *http.Transport {
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dial(ctx, ns, network, addr)
		},
		DisableKeepAlives:     true,
		TLSHandshakeTimeout:   DefaultTry,
		ResponseHeaderTimeout: DefaultTimeout,
	}
}

// HTTPGet fetches rawURL from inside the namespace at ns, retrying until a
// response arrives or the deadline passes. Any response ends the retries,
// whatever its status; redirects are not followed (their status is
// returned). At most MaxBody bytes of the body are read.
func HTTPGet(ctx context.Context, ns string, rawURL string, o Opts) (status int, body []byte, err error) {
	what := fmt.Sprintf("http get %s from %s", rawURL, ns)
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", what, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return 0, nil, fmt.Errorf("%s: scheme must be http or https", what)
	}
	if _, err := netip.ParseAddr(u.Hostname()); err != nil {
		return 0, nil, fmt.Errorf("%s: host must be an IP address (a name would be resolved outside the lab)", what)
	}
	tr := Transport(ns)
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	err = attempt(ctx, o, what, "response", func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			return permanent(err)
		}
		resp, err := client.Do(req) // a permanent dial error stays marked through *url.Error
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
		if err != nil {
			return fmt.Errorf("status %d, reading body: %w", resp.StatusCode, err)
		}
		status, body = resp.StatusCode, b
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return status, body, nil
}

// ServeHTTP serves h on addr inside the namespace at ns.
func ServeHTTP(ns, addr string, h http.Handler) (*Server, error) {
	ln, err := ListenTCP(ns, addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	s := &Server{addr: ln.Addr(), stop: srv.Close}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		srv.Serve(ln) // returns ErrServerClosed after Close
	}()
	return s, nil
}
