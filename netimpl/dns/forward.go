package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	mdns "github.com/miekg/dns"

	"github.com/nslab/nslab/netns"
)

// flagAA is the authoritative-answer bit of the header flags.
const flagAA = 1 << 10

// forward sends the packed query to the upstreams in order over proto and
// returns the first good answer as the upstream sent it, the last answer
// received when none was good, or nil when nobody answered. As in
// libnetwork's resolver: SERVFAIL, REFUSED, any other error, and NXDOMAIN
// that is not authoritative (RFC 8020 only trusts an authoritative one)
// move on to the next upstream; a truncated answer is good, so that the
// client retries over TCP.
func (s *Server) forward(wire []byte, proto string) []byte {
	if len(s.upstreams) == 0 {
		return nil
	}
	select {
	case s.inflight <- struct{}{}:
		defer func() { <-s.inflight }()
	default:
		return nil // more than Docker's maxConcurrent forwarded queries
	}
	var last []byte
	for _, up := range s.upstreams {
		resp, err := s.exchange(up, wire, proto)
		if err != nil {
			if s.ctx.Err() != nil {
				return nil // closing
			}
			continue
		}
		flags := binary.BigEndian.Uint16(resp[2:])
		switch int(flags & 0xF) {
		case mdns.RcodeSuccess:
			return resp
		case mdns.RcodeNameError:
			if flags&flagAA != 0 {
				return resp
			}
		}
		last = resp
	}
	return last
}

// exchange asks one upstream over a socket opened inside the container's
// namespace, bounded by the server's timeout, and returns its answer to
// this query (same id).
func (s *Server) exchange(up netip.AddrPort, wire []byte, proto string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	c, err := s.dialUpstream(ctx, proto, up)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	c.SetDeadline(dl)
	// Close wakes the blocked read when the server closes.
	defer context.AfterFunc(ctx, func() { c.Close() })()

	id := binary.BigEndian.Uint16(wire)
	if proto == "tcp" {
		return exchangeTCP(c, wire, id)
	}
	if _, err := c.Write(wire); err != nil {
		return nil, err
	}
	buf := make([]byte, mdns.MaxMsgSize)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil, err
		}
		// A late answer to an earlier query cannot arrive on this fresh
		// socket, but a stray datagram could: only our id counts.
		if n >= headerLen && binary.BigEndian.Uint16(buf) == id && buf[2]&0x80 != 0 {
			return append([]byte(nil), buf[:n]...), nil
		}
	}
}

// exchangeTCP sends wire with its two-byte length (RFC 1035 4.2.2) and
// reads one framed answer.
func exchangeTCP(c net.Conn, wire []byte, id uint16) ([]byte, error) {
	msg := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(wire)), uint16(len(wire)))
	if _, err := c.Write(append(msg, wire...)); err != nil {
		return nil, err
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	resp := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, resp); err != nil {
		return nil, err
	}
	if len(resp) < headerLen || binary.BigEndian.Uint16(resp) != id {
		return nil, errors.New("answer does not match the query")
	}
	return resp, nil
}

// dialUpstream connects to up from inside the container's namespace, as
// Docker's resolver does through the sandbox's ExecFunc: the query leaves
// the container like any of its own packets.
func (s *Server) dialUpstream(ctx context.Context, proto string, up netip.AddrPort) (net.Conn, error) {
	network := proto + "4"
	if up.Addr().Is6() {
		network = proto + "6"
	}
	c, err := netns.Call(s.ns, func() (net.Conn, error) { return (&net.Dialer{}).DialContext(ctx, network, up.String()) })
	if err != nil {
		return nil, fmt.Errorf("dns %s: upstream %s/%s: %w", s.ns, up, proto, err)
	}
	return c, nil
}
