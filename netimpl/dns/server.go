package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/nslab/nslab/netns"
)

// Address is where Docker's embedded resolver listens inside a container
// (resolverIPSandbox in libnetwork's sandbox_dns_unix.go), on UDP and TCP.
// resolv.conf then says "nameserver 127.0.0.11" and "options ndots:0".
var Address = netip.MustParseAddrPort("127.0.0.11:53")

// Docker's limits, from libnetwork resolver.go.
const (
	respTTL         = 600             // TTL of every local answer
	maxUpstreams    = 3               // maxExtDNS: upstreams tried per query
	defaultTimeout  = 4 * time.Second // extIOTimeout: one exchange with one upstream
	defaultRespSize = 512             // a UDP answer without EDNS
	maxConcurrent   = 1024            // forwarded queries in flight at once
)

// Options tune a Server. The zero value is Docker's behaviour.
type Options struct {
	// Timeout bounds one exchange with one upstream (default 4s, Docker's
	// extIOTimeout).
	Timeout time.Duration
	// NdotsSet says the container's resolv.conf sets ndots explicitly
	// (--dns-opt ndots:N): an unknown single-label A or AAAA name is then
	// answered NOERROR with no records instead of being forwarded, so that
	// the client goes on with its search domains (Docker's NdotsSet).
	NdotsSet bool
}

// Server is one container's embedded resolver. Its sockets live in the
// container's namespace; its goroutines run on ordinary threads.
type Server struct {
	ns        string
	table     Table
	upstreams []netip.AddrPort
	timeout   time.Duration
	ndotsSet  bool

	udp *net.UDPConn
	tcp *mdns.Server

	ctx      context.Context // ends at Close: cancels forwarded queries
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	inflight chan struct{} // a slot per forwarded query in flight

	closeOnce sync.Once
	closeErr  error
}

// Start opens 127.0.0.11:53 over UDP and TCP inside the network namespace
// at ns (a pin path such as /run/netns/<lab>-<host>-<container>) and serves
// it from t, forwarding what t does not know to upstreams, in order; only
// the first three are used, as Docker does. No packet is ever sent to an
// address that is not in upstreams: with none, unknown names get SERVFAIL.
// The namespace's loopback must be up (netns.NewNamed brings it up):
// binding 127.0.0.11 works without it, but nothing would arrive. Close
// stops the server.
func Start(ns string, t Table, upstreams []netip.AddrPort, o Options) (*Server, error) {
	if ns == "" {
		return nil, errors.New("dns: no namespace given")
	}
	if t == nil {
		return nil, fmt.Errorf("dns %s: no table given", ns)
	}
	ups := make([]netip.AddrPort, 0, maxUpstreams)
	for _, u := range upstreams {
		a := u.Addr().Unmap()
		if !a.IsValid() || a.IsUnspecified() || u.Port() == 0 {
			return nil, fmt.Errorf("dns %s: upstream %s: not an address and port", ns, u)
		}
		if len(ups) < maxUpstreams {
			ups = append(ups, netip.AddrPortFrom(a, u.Port()))
		}
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}

	s := &Server{
		ns: ns, table: t, upstreams: ups, timeout: timeout, ndotsSet: o.NdotsSet,
		inflight: make(chan struct{}, maxConcurrent),
	}
	var ln net.Listener
	err := netns.Do(ns, func() error {
		var err error
		if s.udp, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(Address)); err != nil {
			return err
		}
		if ln, err = net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(Address)); err != nil {
			s.udp.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dns %s: %w", ns, err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	if err := s.startTCP(ln); err != nil {
		s.cancel()
		s.udp.Close()
		return nil, fmt.Errorf("dns %s: serve tcp %s: %w", ns, Address, err)
	}
	// Several readers share the UDP socket: one reads while the others
	// answer, so both cores work on a busy resolver.
	for i := 0; i < max(2, runtime.GOMAXPROCS(0)); i++ {
		s.wg.Add(1)
		go s.serveUDP()
	}
	return s, nil
}

// startTCP serves ln with the general path and waits until the server is
// up: a dns.Server shut down before it started would start afterwards.
func (s *Server) startTCP(ln net.Listener) error {
	s.tcp = &mdns.Server{
		Listener: ln,
		Handler:  mdns.HandlerFunc(s.serveTCP),
	}
	started := make(chan struct{})
	errc := make(chan error, 1)
	s.tcp.NotifyStartedFunc = func() { close(started) }
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		errc <- s.tcp.ActivateAndServe()
	}()
	select {
	case <-started:
		return nil
	case err := <-errc:
		ln.Close()
		return err
	}
}

// Addr is the address the server answers on (127.0.0.11:53).
func (s *Server) Addr() netip.AddrPort { return Address }

// Upstreams are the resolvers unknown names are forwarded to, in order.
func (s *Server) Upstreams() []netip.AddrPort { return append([]netip.AddrPort(nil), s.upstreams...) }

// Close stops the server: both sockets are closed, forwarded queries in
// flight are abandoned, and it returns once every goroutine has ended.
// Calling it again returns the first result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		uerr := s.udp.Close()
		terr := s.tcp.Shutdown()
		s.wg.Wait()
		if err := errors.Join(uerr, terr); err != nil {
			s.closeErr = fmt.Errorf("dns %s: close: %w", s.ns, err)
		}
	})
	return s.closeErr
}
