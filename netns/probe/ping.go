package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/nslab/nslab/netns"
)

// Reply is the echo reply that ended a Ping.
type Reply struct {
	From  netip.Addr    // source of the reply
	RTT   time.Duration // since the request it answers was sent
	TTL   int           // IPv4 TTL or IPv6 hop limit of the reply; 0 if unknown
	Seq   int           // sequence number of the answered request
	Tries int           // echo requests sent until the reply came
}

// pingID hands every Ping of this process its own ICMP identifier: a raw
// ICMP socket receives every echo reply that reaches its namespace, so
// concurrent pings tell theirs apart by identifier, sequence and a random
// token in the data (the token also keeps other processes' pings apart).
var pingID atomic.Uint32

func init() {
	var b [2]byte
	rand.Read(b[:])
	pingID.Store(uint32(binary.BigEndian.Uint16(b[:])))
}

// Ping sends ICMP echo requests to dst from inside the namespace at ns, one
// every o.Interval, until a matching echo reply arrives or o.Timeout passes.
// A reply to any earlier request counts. On silence it returns a
// *DeadlineError (ErrDeadline) after the whole deadline, naming the last
// ICMP error about our requests if one came (host unreachable, ...).
func Ping(ctx context.Context, ns string, dst netip.Addr, o Opts) (Reply, error) {
	o = o.withDefaults()
	what := fmt.Sprintf("ping %s from %s", dst, ns)
	if !dst.IsValid() {
		return Reply{}, fmt.Errorf("ping from %s: invalid destination address", ns)
	}
	dst = dst.Unmap()
	to, err := ipAddr(ns, dst)
	if err != nil {
		return Reply{}, fmt.Errorf("%s: %w", what, err)
	}
	s, err := openEcho(ns, dst.Is6())
	if err != nil {
		return Reply{}, fmt.Errorf("%s: %w", what, err)
	}
	defer s.c.Close()
	// Closing the socket is the one way to wake a read whose deadline the
	// loop keeps moving; the loop then sees ctx ended.
	stop := context.AfterFunc(ctx, func() { s.c.Close() })
	defer stop()

	p := &pinger{s: s, to: to, dst: dst, id: int(uint16(pingID.Add(1))), token: make([]byte, 16), sent: map[int]time.Time{}}
	rand.Read(p.token)
	buf := make([]byte, 1500)
	start := time.Now()
	deadline := start.Add(o.Timeout)
	next := start
	var last error
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(deadline) {
			break
		}
		if !now.Before(next) {
			if err := p.send(now); errors.Is(err, errMarshal) {
				return Reply{}, fmt.Errorf("%s: %w", what, err)
			} else if err != nil {
				// No route yet, say: the next request may go through.
				last = err
			}
			next = now.Add(o.Interval)
		}
		s.c.SetReadDeadline(minTime(next, deadline))
		r, err := p.receive(buf)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded) || (err != nil && ctx.Err() != nil):
		case errors.Is(err, errNotOurs):
		case errors.As(err, new(*icmpError)):
			last = err
		case err != nil:
			return Reply{}, fmt.Errorf("%s: read: %w", what, err)
		default:
			waitedForAnswer(start)
			return r, nil
		}
	}
	return Reply{}, deadlineOrCancel(ctx, what, "reply", o.Timeout, start, p.tries, last, nil)
}

// pinger is one Ping's echo requests: their id, the token they carry and
// when each sequence number was sent.
type pinger struct {
	s          *echoSocket
	to         *net.IPAddr
	dst        netip.Addr
	id         int
	token      []byte
	sent       map[int]time.Time
	seq, tries int
}

var (
	errMarshal = errors.New("marshal")
	// errNotOurs: what arrived is not an answer to this Ping.
	errNotOurs = errors.New("not an answer to this ping")
)

// icmpError is an ICMP error about one of this Ping's requests
// (destination unreachable, time exceeded).
type icmpError struct{ err error }

func (e *icmpError) Error() string { return e.err.Error() }
func (e *icmpError) Unwrap() error { return e.err }

// send sends the next echo request.
func (p *pinger) send(now time.Time) error {
	p.seq = (p.seq + 1) & 0xffff
	p.tries++
	msg := icmp.Message{Type: p.s.echoType(), Body: &icmp.Echo{ID: p.id, Seq: p.seq, Data: p.token}}
	b, err := msg.Marshal(nil) // IPv4: checksum here; IPv6: the kernel fills it
	if err != nil {
		return fmt.Errorf("%w: %w", errMarshal, err)
	}
	if _, err := p.s.c.WriteTo(b, p.to); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	p.sent[p.seq] = now
	return nil
}

// receive reads one ICMP message: the reply to one of our requests, an
// *icmpError about one, errNotOurs, or the socket's error.
func (p *pinger) receive(buf []byte) (Reply, error) {
	n, ttl, src, err := p.s.read(buf)
	if err != nil {
		return Reply{}, err
	}
	at := time.Now()
	m, err := icmp.ParseMessage(p.s.proto(), buf[:n])
	if err != nil {
		return Reply{}, errNotOurs
	}
	if echo, ok := m.Body.(*icmp.Echo); ok && m.Type == p.s.replyType() {
		t, ours := p.sent[echo.Seq]
		if echo.ID != p.id || !ours || !bytes.Equal(echo.Data, p.token) {
			return Reply{}, errNotOurs
		}
		return Reply{From: src, RTT: at.Sub(t), TTL: ttl, Seq: echo.Seq, Tries: p.tries}, nil
	}
	if e := p.s.errorAbout(m, p.dst, p.id, src); e != nil {
		return Reply{}, &icmpError{e}
	}
	return Reply{}, errNotOurs
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// ipAddr is dst as the socket wants it; an IPv6 zone is resolved to an
// interface index inside ns (the caller's namespace has other interfaces).
func ipAddr(ns string, dst netip.Addr) (*net.IPAddr, error) {
	a := &net.IPAddr{IP: net.IP(dst.AsSlice())}
	if z := dst.Zone(); z != "" {
		idx, err := zoneIndex(ns, z)
		if err != nil {
			return nil, err
		}
		a.Zone = strconv.Itoa(idx)
	}
	return a, nil
}

// echoSocket is a raw ICMP or ICMPv6 socket opened inside a namespace.
type echoSocket struct {
	c  *icmp.PacketConn
	p4 *ipv4.PacketConn
	p6 *ipv6.PacketConn
}

func openEcho(ns string, v6 bool) (*echoSocket, error) {
	var c *icmp.PacketConn
	err := netns.Do(ns, func() (err error) {
		if v6 {
			c, err = icmp.ListenPacket("ip6:ipv6-icmp", "::")
		} else {
			c, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open icmp socket: %w", err)
	}
	s := &echoSocket{c: c}
	// The kernel filter keeps the echo requests and neighbour discovery of
	// the namespace out of this socket; only what a ping cares about comes in.
	if v6 {
		s.p6 = c.IPv6PacketConn()
		var f ipv6.ICMPFilter
		f.SetAll(true)
		for _, t := range []ipv6.ICMPType{ipv6.ICMPTypeEchoReply, ipv6.ICMPTypeDestinationUnreachable, ipv6.ICMPTypeTimeExceeded} {
			f.Accept(t)
		}
		err = s.p6.SetICMPFilter(&f)
		if err == nil {
			err = s.p6.SetControlMessage(ipv6.FlagHopLimit, true)
		}
	} else {
		s.p4 = c.IPv4PacketConn()
		var f ipv4.ICMPFilter
		f.SetAll(true)
		for _, t := range []ipv4.ICMPType{ipv4.ICMPTypeEchoReply, ipv4.ICMPTypeDestinationUnreachable, ipv4.ICMPTypeTimeExceeded} {
			f.Accept(t)
		}
		err = s.p4.SetICMPFilter(&f)
		if err == nil {
			err = s.p4.SetControlMessage(ipv4.FlagTTL, true)
		}
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("icmp socket options: %w", err)
	}
	return s, nil
}

func (s *echoSocket) proto() int {
	if s.p6 != nil {
		return 58
	}
	return 1
}

func (s *echoSocket) echoType() icmp.Type {
	if s.p6 != nil {
		return ipv6.ICMPTypeEchoRequest
	}
	return ipv4.ICMPTypeEcho
}

func (s *echoSocket) replyType() icmp.Type {
	if s.p6 != nil {
		return ipv6.ICMPTypeEchoReply
	}
	return ipv4.ICMPTypeEchoReply
}

// read returns one ICMP message (without IP header), its TTL or hop limit
// and its source.
func (s *echoSocket) read(b []byte) (n, ttl int, src netip.Addr, err error) {
	var from net.Addr
	if s.p6 != nil {
		var cm *ipv6.ControlMessage
		n, cm, from, err = s.p6.ReadFrom(b)
		if cm != nil {
			ttl = cm.HopLimit
		}
	} else {
		var cm *ipv4.ControlMessage
		n, cm, from, err = s.p4.ReadFrom(b)
		if cm != nil {
			ttl = cm.TTL
		}
	}
	if ia, ok := from.(*net.IPAddr); ok {
		src, _ = netip.AddrFromSlice(ia.IP)
		src = src.Unmap()
	}
	return n, ttl, src, err
}

// errorAbout describes m when it is an ICMP error about one of our echo
// requests to dst (the error quotes the request's IP header and first 8
// bytes, which hold the identifier), and returns nil otherwise.
func (s *echoSocket) errorAbout(m *icmp.Message, dst netip.Addr, id int, from netip.Addr) error {
	var data []byte
	var kind string
	switch b := m.Body.(type) {
	case *icmp.DstUnreach:
		data, kind = b.Data, "destination unreachable"
	case *icmp.TimeExceeded:
		data, kind = b.Data, "time exceeded"
	default:
		return nil
	}
	var qdst netip.Addr
	var qtype, qid int
	if s.p6 != nil {
		// Fixed 40-byte header; next header must be ICMPv6 (58).
		if len(data) < 48 || data[6] != 58 {
			return nil
		}
		qdst = netip.AddrFrom16([16]byte(data[24:40]))
		qtype, qid = int(data[40]), int(binary.BigEndian.Uint16(data[44:46]))
	} else {
		if len(data) < 20 {
			return nil
		}
		ihl := int(data[0]&0x0f) * 4
		if ihl < 20 || len(data) < ihl+8 || data[9] != 1 {
			return nil
		}
		qdst = netip.AddrFrom4([4]byte(data[16:20]))
		qtype, qid = int(data[ihl]), int(binary.BigEndian.Uint16(data[ihl+4:ihl+6]))
	}
	if qid != id || qtype != s.echoTypeNumber() || qdst != dst.WithZone("") {
		return nil
	}
	if why := codeText(s.p6 != nil, m.Type, m.Code); why != "" {
		kind += " (" + why + ")"
	} else {
		kind += fmt.Sprintf(" (code %d)", m.Code)
	}
	return fmt.Errorf("%s from %s", kind, from)
}

// codeText names the ICMP error codes a lab meets: no route, no neighbour
// answer, a REJECT rule, a closed port.
func codeText(v6 bool, t icmp.Type, code int) string {
	switch {
	case !v6 && t == ipv4.ICMPTypeDestinationUnreachable:
		return map[int]string{0: "net unreachable", 1: "host unreachable", 2: "protocol unreachable",
			3: "port unreachable", 9: "net prohibited", 10: "host prohibited", 13: "administratively prohibited"}[code]
	case v6 && t == ipv6.ICMPTypeDestinationUnreachable:
		return map[int]string{0: "no route", 1: "administratively prohibited", 3: "address unreachable",
			4: "port unreachable", 6: "reject route"}[code]
	case t == ipv4.ICMPTypeTimeExceeded || t == ipv6.ICMPTypeTimeExceeded:
		return map[int]string{0: "hop limit", 1: "reassembly"}[code]
	}
	return ""
}

func (s *echoSocket) echoTypeNumber() int {
	if s.p6 != nil {
		return 128
	}
	return 8
}
