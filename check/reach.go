package check

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"github.com/nslab/nslab/netns/probe"
)

// path is a reachability check's two ends.
type path struct {
	From endpoint
	To   target
}

func (r path) ends() path { return r }

func (r path) endpoints() []endpoint {
	if r.To.IP.IsValid() {
		return []endpoint{r.From}
	}
	return []endpoint{r.From, r.To.At}
}

// resolve finds the prober's namespace and the target's address.
func (r path) resolve(ctx context.Context, e *env) (ns string, to netip.Addr, err error) {
	if ns, err = e.netns(ctx, r.From); err != nil {
		return "", netip.Addr{}, err
	}
	to, err = e.address(ctx, r.To, r.From)
	return ns, to, err
}

func parsePath(p *parser, vals map[string]*yaml.Node, kp string) (path, bool) {
	from := get(p, vals, kp, "from", parseEndpoint)
	to := get(p, vals, kp, "to", parseTarget)
	return path{From: from, To: to}, from != (endpoint{}) && (to.IP.IsValid() || to.At != (endpoint{}))
}

// reverse is a reachability check the other way round, for both: true.
func reverse(s spec) (spec, error) {
	back := func(r path) (path, error) {
		if r.To.IP.IsValid() {
			return path{}, fmt.Errorf("both: the way back starts at %s, an address; name a host or container in to", r.To.IP)
		}
		return path{From: r.To.At, To: target{At: r.From}}, nil
	}
	var err error
	switch s := s.(type) {
	case *pingSpec:
		c := *s
		c.path, err = back(s.path)
		return &c, err
	case *tcpSpec:
		c := *s
		c.path, err = back(s.path)
		return &c, err
	case *httpSpec:
		c := *s
		c.path, err = back(s.path)
		return &c, err
	}
	return nil, errors.New("both: only for ping, tcp and http")
}

// silent says a probe's deadline passed with no answer, which is what a
// closed path looks like; any other failure is a failure to look.
func silent(err error) bool { return errors.Is(err, probe.ErrDeadline) }

// probeResult turns a probe's outcome into look's.
func probeResult(err error, answered string) (holds, final bool, seen string, lerr error) {
	switch {
	case err == nil:
		return true, true, answered, nil
	case silent(err):
		return false, true, err.Error(), nil
	}
	return false, false, "", err
}

// remaining is what is left of a check's deadline, in whole milliseconds.
func remaining(until time.Time) time.Duration {
	return max(time.Until(until).Round(time.Millisecond), 100*time.Millisecond)
}

type pingSpec struct{ path }

func parsePing(p *parser, vals map[string]*yaml.Node, kp string) spec {
	r, ok := parsePath(p, vals, kp)
	if !ok {
		return nil
	}
	return &pingSpec{r}
}

func (s *pingSpec) describe() string { return fmt.Sprintf("ping %s → %s", s.From, s.To) }

func (s *pingSpec) expected(negate bool) string {
	return expectation(negate, "an", fmt.Sprintf("echo reply from %s to pings from %s", s.To, s.From))
}

func (s *pingSpec) look(ctx context.Context, e *env, until time.Time) (bool, bool, string, error) {
	ns, to, err := s.resolve(ctx, e)
	if err != nil {
		return false, false, "", err
	}
	r, err := probe.Ping(ctx, ns, to, probe.Opts{Timeout: remaining(until)})
	return probeResult(err, fmt.Sprintf("a reply from %s (%s) after %d tries, rtt %s", r.From, s.To, r.Tries, r.RTT.Round(time.Microsecond)))
}

type tcpSpec struct {
	path
	Port uint16
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a port from 1 to 65535", s)
	}
	return uint16(n), nil
}

func parseTCP(p *parser, vals map[string]*yaml.Node, kp string) spec {
	r, ok := parsePath(p, vals, kp)
	port := get(p, vals, kp, "port", parsePort)
	if !ok || port == 0 {
		return nil
	}
	return &tcpSpec{r, port}
}

func (s *tcpSpec) describe() string {
	return fmt.Sprintf("tcp %s → %s port %d", s.From, s.To, s.Port)
}

func (s *tcpSpec) expected(negate bool) string {
	return expectation(negate, "a", fmt.Sprintf("TCP connection from %s to %s port %d", s.From, s.To, s.Port))
}

func (s *tcpSpec) look(ctx context.Context, e *env, until time.Time) (bool, bool, string, error) {
	ns, to, err := s.resolve(ctx, e)
	if err != nil {
		return false, false, "", err
	}
	err = probe.TCP(ctx, ns, netip.AddrPortFrom(to, s.Port), probe.Opts{Timeout: remaining(until)})
	return probeResult(err, fmt.Sprintf("a connection to %s:%d", to, s.Port))
}

type httpSpec struct {
	path
	Port   uint16
	Path   string
	Status int
	Body   string
}

func parseHTTP(p *parser, vals map[string]*yaml.Node, kp string) spec {
	r, ok := parsePath(p, vals, kp)
	s := &httpSpec{path: r, Port: 80, Path: "/"}
	if _, given := vals["port"]; given {
		s.Port = get(p, vals, kp, "port", parsePort)
	}
	if v := get(p, vals, kp, "path", str); v != "" {
		s.Path = v
	}
	if !strings.HasPrefix(s.Path, "/") {
		p.Errorf(vals["path"].Line, kp+".path", "%q: a path starts with /", s.Path)
	}
	s.Status = get(p, vals, kp, "status", func(v string) (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > 599 {
			return 0, fmt.Errorf("%q is not an HTTP status", v)
		}
		return n, nil
	})
	s.Body = get(p, vals, kp, "body", str)
	if !ok || s.Port == 0 {
		return nil
	}
	return s
}

func (s *httpSpec) url(to netip.Addr) string {
	return fmt.Sprintf("http://%s%s", netip.AddrPortFrom(to, s.Port), s.Path)
}

func (s *httpSpec) describe() string {
	return fmt.Sprintf("http %s → %s:%d%s", s.From, s.To, s.Port, s.Path)
}

func (s *httpSpec) expected(negate bool) string {
	where := fmt.Sprintf("%s port %d, path %s, from %s", s.To, s.Port, s.Path, s.From)
	if negate {
		return "no HTTP answer from " + where
	}
	want := "an HTTP answer"
	if s.Status != 0 {
		want += fmt.Sprintf(" with status %d", s.Status)
	}
	if s.Body != "" {
		want += fmt.Sprintf(" whose body holds %q", s.Body)
	}
	return want + " from " + where
}

func (s *httpSpec) look(ctx context.Context, e *env, until time.Time) (bool, bool, string, error) {
	ns, to, err := s.resolve(ctx, e)
	if err != nil {
		return false, false, "", err
	}
	status, body, err := probe.HTTPGet(ctx, ns, s.url(to), probe.Opts{Timeout: remaining(until)})
	if err != nil {
		return probeResult(err, "")
	}
	seen := fmt.Sprintf("status %d, body %q", status, clip(string(body), 200))
	ok := (s.Status == 0 || status == s.Status) && strings.Contains(string(body), s.Body)
	// A path that must stay closed answered: that is final. One that must
	// answer in a certain way may still come to.
	return ok, false, seen, nil
}

// dnsSpec asks a DNS server, from inside a namespace, for a name's A
// records. Without answer, any address passes.
type dnsSpec struct {
	From   endpoint
	Name   string
	Server netip.AddrPort
	Answer []target
}

// embeddedDNS is where Docker's embedded DNS answers inside a container of
// a user-defined network.
var embeddedDNS = netip.MustParseAddrPort("127.0.0.11:53")

func parseDNS(p *parser, vals map[string]*yaml.Node, kp string) spec {
	s := &dnsSpec{Server: embeddedDNS}
	s.From = get(p, vals, kp, "from", parseEndpoint)
	s.Name = get(p, vals, kp, "name", func(v string) (string, error) {
		if _, ok := dns.IsDomainName(v); !ok {
			return "", fmt.Errorf("%q is not a domain name", v)
		}
		return v, nil
	})
	if _, given := vals["server"]; given {
		s.Server = get(p, vals, kp, "server", func(v string) (netip.AddrPort, error) {
			if a, err := netip.ParseAddr(v); err == nil {
				return netip.AddrPortFrom(a, 53), nil
			}
			ap, err := netip.ParseAddrPort(v)
			if err != nil {
				return ap, fmt.Errorf("%q is not an address or address:port", v)
			}
			return ap, nil
		})
	}
	if v, ok := vals["answer"]; ok {
		for i, a := range p.list(v, kp+".answer") {
			t, err := parseTarget(a)
			if err != nil {
				p.Errorf(v.Line, fmt.Sprintf("%s.answer[%d]", kp, i), "%v", err)
				continue
			}
			s.Answer = append(s.Answer, t)
		}
	}
	if s.From == (endpoint{}) || s.Name == "" || !s.Server.IsValid() {
		return nil
	}
	return s
}

func (s *dnsSpec) endpoints() []endpoint {
	eps := []endpoint{s.From}
	for _, t := range s.Answer {
		if !t.IP.IsValid() {
			eps = append(eps, t.At)
		}
	}
	return eps
}

func (s *dnsSpec) describe() string { return fmt.Sprintf("dns %s from %s", s.Name, s.From) }

func (s *dnsSpec) expected(negate bool) string {
	if negate {
		return fmt.Sprintf("no address for %s from %s at %s", s.Name, s.From, s.Server)
	}
	if len(s.Answer) == 0 {
		return fmt.Sprintf("an address for %s from %s at %s", s.Name, s.From, s.Server)
	}
	var ts []string
	for _, t := range s.Answer {
		ts = append(ts, t.String())
	}
	return fmt.Sprintf("%s answered with the address of %s, asked from %s at %s", s.Name, strings.Join(ts, " and "), s.From, s.Server)
}

func (s *dnsSpec) look(ctx context.Context, e *env, until time.Time) (bool, bool, string, error) {
	ns, err := e.netns(ctx, s.From)
	if err != nil {
		return false, false, "", err
	}
	var want []netip.Addr
	for _, t := range s.Answer {
		a, err := e.address(ctx, t, s.From)
		if err != nil {
			return false, false, "", err
		}
		want = append(want, a)
	}
	addrs, _, err := probe.DNS(ctx, ns, s.Server, s.Name, dns.TypeA, probe.Opts{Timeout: remaining(until)})
	var rc *probe.RcodeError
	switch {
	case errors.As(err, &rc):
		return false, false, rc.Error(), nil
	case err != nil:
		return probeResult(err, "")
	}
	seen := fmt.Sprintf("%s → %v", s.Name, addrs)
	if len(addrs) == 0 {
		return false, false, seen, nil
	}
	for _, w := range want {
		found := false
		for _, a := range addrs {
			found = found || a == w
		}
		if !found {
			return false, false, seen + fmt.Sprintf(" (no %s)", w), nil
		}
	}
	return true, false, seen, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
