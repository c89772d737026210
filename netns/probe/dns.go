package probe

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// RcodeError is a DNS answer whose response code is not NOERROR.
type RcodeError struct{ Rcode int }

func (e *RcodeError) Error() string {
	if s, ok := dns.RcodeToString[e.Rcode]; ok {
		return "rcode " + s
	}
	return fmt.Sprintf("rcode %d", e.Rcode)
}

// DNS asks server for name (made fully qualified) and qtype (dns.TypeA, ...)
// from inside the namespace at ns, over UDP, retrying until an answer
// arrives or the deadline passes; a truncated UDP answer is asked again over
// TCP in the same try. Any answer ends the retries. It returns the A and
// AAAA addresses of the answer section and the whole message; an answer
// other than NOERROR comes back with its message and a *RcodeError.
func DNS(ctx context.Context, ns string, server netip.AddrPort, name string, qtype uint16, o Opts) ([]netip.Addr, *dns.Msg, error) {
	fqdn := dns.Fqdn(name)
	what := fmt.Sprintf("dns %s %s @%s from %s", dns.Type(qtype), fqdn, server, ns)
	if _, ok := dns.IsDomainName(fqdn); !ok {
		return nil, nil, fmt.Errorf("%s: invalid name", what)
	}
	var resp *dns.Msg
	err := attempt(ctx, o, what, "answer", func(ctx context.Context) error {
		q := new(dns.Msg)
		q.SetQuestion(fqdn, qtype)
		r, err := exchange(ctx, ns, server, q, "udp")
		if err != nil {
			return err
		}
		if r.Truncated {
			if r, err = exchange(ctx, ns, server, q, "tcp"); err != nil {
				return fmt.Errorf("truncated over udp, then tcp: %w", err)
			}
		}
		resp = r
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var addrs []netip.Addr
	for _, rr := range resp.Answer {
		var ip net.IP
		switch rr := rr.(type) {
		case *dns.A:
			ip = rr.A
		case *dns.AAAA:
			ip = rr.AAAA
		default:
			continue
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			if rr.Header().Rrtype == dns.TypeA {
				a = a.Unmap()
			}
			addrs = append(addrs, a)
		}
	}
	if resp.Rcode != dns.RcodeSuccess {
		return addrs, resp, fmt.Errorf("%s: %w", what, &RcodeError{Rcode: resp.Rcode})
	}
	return addrs, resp, nil
}

// exchange sends q to server over network ("udp" or "tcp") on a fresh
// socket opened inside ns and reads the answer with the same id.
func exchange(ctx context.Context, ns string, server netip.AddrPort, q *dns.Msg, network string) (*dns.Msg, error) {
	c, err := dial(ctx, ns, network, server.String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	defer closeOnCancel(ctx, c)()
	client := &dns.Client{Net: network}
	r, _, err := client.ExchangeWithConnContext(ctx, q, &dns.Conn{Conn: c})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", network, tryErr(ctx, err))
	}
	return r, nil
}

// ServeDNS serves h over UDP and TCP on the same addr inside the namespace
// at ns (with port 0, the port TCP got is reused for UDP).
func ServeDNS(ns, addr string, h dns.Handler) (*Server, error) {
	ln, err := ListenTCP(ns, addr)
	if err != nil {
		return nil, err
	}
	pc, err := ListenUDP(ns, ln.Addr().String())
	if err != nil {
		ln.Close()
		return nil, err
	}
	servers := []*dns.Server{
		{Listener: ln, Handler: h},
		{PacketConn: pc, Handler: h},
	}
	s := &Server{addr: ln.Addr()}
	// Shutdown of a server that has not started yet fails and leaves it to
	// start later, so wait until both are up before handing them out.
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			errc <- srv.ActivateAndServe()
		}()
		select {
		case <-started:
		case err := <-errc:
			for _, o := range servers {
				o.Shutdown()
			}
			ln.Close()
			pc.Close()
			s.wg.Wait()
			return nil, fmt.Errorf("serve dns %s in %s: %w", addr, ns, err)
		}
	}
	s.stop = func() error {
		var first error
		for _, srv := range servers {
			if err := srv.Shutdown(); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	return s, nil
}
