package dns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/nstest"
	"github.com/nslab/nslab/netns/probe"
)

// The upstream side of the tests: namespace B, joined to the container's
// namespace A by a veth, 10.250.53.1 (B) and 10.250.53.2 (A).
var (
	upstreamIP = netip.MustParseAddr("10.250.53.1")
	upstream   = netip.AddrPortFrom(upstreamIP, 53)
	extAddr    = netip.MustParseAddr("198.51.100.7")
)

// upstreamDNS is a resolver in namespace B that counts what reaches it.
type upstreamDNS struct {
	udp, tcp atomic.Int32
	rcode    int // answer every query with this rcode instead
}

func (u *upstreamDNS) ServeDNS(w mdns.ResponseWriter, q *mdns.Msg) {
	isUDP := w.LocalAddr().Network() == "udp"
	if isUDP {
		u.udp.Add(1)
	} else {
		u.tcp.Add(1)
	}
	resp := new(mdns.Msg).SetReply(q)
	resp.RecursionAvailable = true
	if u.rcode != 0 {
		resp.Rcode = u.rcode
		w.WriteMsg(resp)
		return
	}
	question := q.Question[0]
	hdr := mdns.RR_Header{Name: question.Name, Rrtype: question.Qtype, Class: mdns.ClassINET, Ttl: 30}
	switch {
	case question.Name == "ext.example." && question.Qtype == mdns.TypeA:
		resp.Answer = append(resp.Answer, &mdns.A{Hdr: hdr, A: extAddr.AsSlice()})
	case question.Name == "big.example." && question.Qtype == mdns.TypeA:
		for i := 1; i <= 60; i++ {
			resp.Answer = append(resp.Answer, &mdns.A{Hdr: hdr, A: net.IPv4(198, 51, 100, byte(i))})
		}
		// Too big for UDP: say so, as a real server does.
		if isUDP {
			resp.Answer = nil
			resp.Truncated = true
		}
	case question.Qtype == mdns.TypeTXT:
		resp.Answer = append(resp.Answer, &mdns.TXT{Hdr: hdr, Txt: []string{"from upstream"}})
	case question.Qtype == mdns.TypePTR:
		resp.Answer = append(resp.Answer, &mdns.PTR{Hdr: hdr, Ptr: "far.example."})
	default:
		resp.Rcode = mdns.RcodeNameError
		resp.Authoritative = true
	}
	w.WriteMsg(resp)
}

func (u *upstreamDNS) seen() int { return int(u.udp.Load() + u.tcp.Load()) }

// resolverLab makes the container namespace A and the upstream namespace B
// joined by a veth, and serves up on B's 10.250.53.1:53.
func resolverLab(t testing.TB, up *upstreamDNS) (a, b string) {
	t.Helper()
	a, b = nstest.Segment(t, prefix,
		nstest.End{Role: "a", Link: "eth0", CIDRs: []string{"10.250.53.2/24"}},
		nstest.End{Role: "b", Link: "up0", CIDRs: []string{"10.250.53.1/24"}})
	serveUpstream(t, b, upstream, up)
	return a, b
}

func serveUpstream(t testing.TB, ns string, at netip.AddrPort, up *upstreamDNS) {
	t.Helper()
	srv, err := probe.ServeDNS(ns, at.String(), up)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
}

func startResolver(t *testing.T, ns string, tb Table, ups []netip.AddrPort, o Options) *Server {
	t.Helper()
	s, err := Start(ns, tb, ups, o)
	return nstest.Started(t, s, err)
}

// quick asks once, for the whole deadline: the tests count what the
// upstream saw, and a second try (after a slow first answer on a loaded
// machine) would reach the upstream a second time.
var quick = probe.Opts{Timeout: 3 * time.Second, Try: 3 * time.Second}

func ask(t *testing.T, ns, name string, qtype uint16) ([]netip.Addr, *mdns.Msg) {
	t.Helper()
	addrs, msg, err := probe.DNS(context.Background(), ns, Address, name, qtype, quick)
	if err != nil {
		t.Fatalf("%s %s: %v", name, mdns.Type(qtype), err)
	}
	return addrs, msg
}

// [E07] Names, aliases and short ids of the containers on the network
// answer from inside the container, as Docker's resolver does, and none of
// these queries leaves the container.
func TestResolverAnswersLocalNames(t *testing.T) {
	up := &upstreamDNS{}
	a, _ := resolverLab(t, up)
	startResolver(t, a, testTable(t), []netip.AddrPort{upstream}, Options{})
	web := []netip.Addr{netip.MustParseAddr("172.18.0.2")}

	for _, name := range []string{"web", "web.", "WEB", "Web.Br1", "frontend", "749bbbea2172"} {
		addrs, msg := ask(t, a, name, mdns.TypeA)
		if !slices.Equal(addrs, web) {
			t.Errorf("%s: %v, want %v", name, addrs, web)
		}
		if msg.Authoritative || !msg.RecursionAvailable || !msg.RecursionDesired {
			t.Errorf("%s: flags %+v, want RA and RD, not AA", name, msg.MsgHdr)
		}
		if rr := msg.Answer[0].Header(); rr.Ttl != 600 || rr.Name != mdns.Fqdn(name) {
			t.Errorf("%s: record %v, want TTL 600 named as asked", name, msg.Answer[0])
		}
	}

	// An alias shared by two containers: both, in random order.
	firsts := map[netip.Addr]bool{}
	for i := 0; i < 40; i++ {
		addrs, _ := ask(t, a, "backend", mdns.TypeA)
		if len(addrs) != 2 || !slices.Contains(addrs, netip.MustParseAddr("172.18.0.3")) ||
			!slices.Contains(addrs, netip.MustParseAddr("172.18.0.4")) {
			t.Fatalf("backend: %v", addrs)
		}
		firsts[addrs[0]] = true
	}
	if len(firsts) != 2 {
		t.Errorf("backend always answered in the same order: %v", firsts)
	}

	// AAAA of an IPv4-only container: NOERROR, nothing, not forwarded.
	addrs, msg := ask(t, a, "web", mdns.TypeAAAA)
	if len(addrs) != 0 || msg.Rcode != mdns.RcodeSuccess {
		t.Errorf("web AAAA: %v rcode %d", addrs, msg.Rcode)
	}
	if addrs, _ := ask(t, a, "backend", mdns.TypeAAAA); !slices.Equal(addrs, []netip.Addr{netip.MustParseAddr("fd00:18::4")}) {
		t.Errorf("backend AAAA: %v", addrs)
	}
	// MX of a known name: NOERROR and nothing.
	if _, msg := ask(t, a, "web", mdns.TypeMX); msg.Rcode != mdns.RcodeSuccess || len(msg.Answer) != 0 {
		t.Errorf("web MX: %v", msg)
	}
	// PTR: "<container>.<network>".
	_, msg = ask(t, a, "2.0.18.172.in-addr.arpa", mdns.TypePTR)
	if len(msg.Answer) != 1 || msg.Answer[0].(*mdns.PTR).Ptr != "web.br1." || msg.Answer[0].Header().Ttl != 600 {
		t.Errorf("PTR 172.18.0.2: %v", msg.Answer)
	}
	_, msg = ask(t, a, "4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.1.0.0.0.0.d.f.ip6.arpa", mdns.TypePTR)
	if len(msg.Answer) != 1 || msg.Answer[0].(*mdns.PTR).Ptr != "api2.br1." {
		t.Errorf("PTR fd00:18::4: %v", msg.Answer)
	}

	if n := up.seen(); n != 0 {
		t.Errorf("the upstream saw %d queries for local names", n)
	}
}

// Unknown names, other types and unknown addresses go to the upstream in
// another namespace, from the container's namespace, and its answers
// come back; an answer too big for UDP comes back truncated and the client
// gets it whole over TCP.
func TestResolverForwards(t *testing.T) {
	up := &upstreamDNS{}
	a, _ := resolverLab(t, up)
	startResolver(t, a, testTable(t), []netip.AddrPort{upstream}, Options{})

	if addrs, _ := ask(t, a, "ext.example", mdns.TypeA); !slices.Equal(addrs, []netip.Addr{extAddr}) {
		t.Errorf("ext.example: %v", addrs)
	}
	if _, msg := ask(t, a, "web", mdns.TypeTXT); len(msg.Answer) != 1 {
		t.Errorf("web TXT: %v", msg.Answer)
	}
	if _, msg := ask(t, a, "9.9.9.10.in-addr.arpa", mdns.TypePTR); len(msg.Answer) != 1 || msg.Answer[0].(*mdns.PTR).Ptr != "far.example." {
		t.Errorf("PTR 10.9.9.9: %v", msg.Answer)
	}
	// NXDOMAIN from the only upstream comes back as it is.
	_, msg, err := probe.DNS(context.Background(), a, Address, "nope.example", mdns.TypeA, quick)
	var rc *probe.RcodeError
	if !errors.As(err, &rc) || rc.Rcode != mdns.RcodeNameError || !msg.Authoritative {
		t.Errorf("nope.example: %v", err)
	}
	if up.udp.Load() != 4 || up.tcp.Load() != 0 {
		t.Errorf("upstream saw udp %d tcp %d, want 4 and 0", up.udp.Load(), up.tcp.Load())
	}

	addrs, _ := ask(t, a, "big.example", mdns.TypeA)
	if len(addrs) != 60 {
		t.Errorf("big.example: %d addresses, want 60", len(addrs))
	}
	if up.tcp.Load() != 1 {
		t.Errorf("upstream saw %d tcp queries, want 1 (the retry after TC)", up.tcp.Load())
	}
}

// Queries over TCP are answered locally and forwarded over TCP.
func TestResolverTCP(t *testing.T) {
	up := &upstreamDNS{}
	a, _ := resolverLab(t, up)
	startResolver(t, a, testTable(t), []netip.AddrPort{upstream}, Options{})

	c, err := probe.DialContext(context.Background(), a, "tcp", Address.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	conn := &mdns.Conn{Conn: c}
	for _, tc := range []struct {
		name string
		want netip.Addr
	}{{"api.", netip.MustParseAddr("172.18.0.3")}, {"ext.example.", extAddr}} {
		q := new(mdns.Msg).SetQuestion(tc.name, mdns.TypeA)
		if err := conn.WriteMsg(q); err != nil {
			t.Fatal(err)
		}
		r, err := conn.ReadMsg()
		if err != nil {
			t.Fatalf("%s over tcp: %v", tc.name, err)
		}
		if r.Id != q.Id || len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != tc.want.String() {
			t.Errorf("%s over tcp: %v", tc.name, r)
		}
	}
	if up.tcp.Load() != 1 || up.udp.Load() != 0 {
		t.Errorf("upstream saw udp %d tcp %d, want 0 and 1", up.udp.Load(), up.tcp.Load())
	}
}

// Without upstreams nothing leaves the container: unknown names get
// SERVFAIL at once, even though a resolver is reachable next door.
func TestResolverWithoutUpstreams(t *testing.T) {
	up := &upstreamDNS{}
	a, _ := resolverLab(t, up)
	startResolver(t, a, testTable(t), nil, Options{})

	start := time.Now()
	_, msg, err := probe.DNS(context.Background(), a, Address, "ext.example", mdns.TypeA, quick)
	var rc *probe.RcodeError
	if !errors.As(err, &rc) || rc.Rcode != mdns.RcodeServerFailure {
		t.Fatalf("ext.example without upstreams: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("SERVFAIL took %s", took)
	}
	if len(msg.Question) != 1 || msg.Question[0].Name != "ext.example." {
		t.Errorf("SERVFAIL question: %v", msg.Question)
	}
	if addrs, _ := ask(t, a, "web", mdns.TypeA); len(addrs) != 1 {
		t.Errorf("web: %v", addrs)
	}
	if n := up.seen(); n != 0 {
		t.Errorf("a resolver not passed as upstream saw %d queries", n)
	}
}

// Upstreams are tried in order: a closed port and a SERVFAIL move on to
// the next; when none answers well, the last answer received is passed on.
func TestResolverUpstreamOrder(t *testing.T) {
	good, failing := &upstreamDNS{}, &upstreamDNS{rcode: mdns.RcodeServerFailure}
	a, b := resolverLab(t, good)
	bad := netip.AddrPortFrom(upstreamIP, 54)
	serveUpstream(t, b, bad, failing)
	closed := netip.AddrPortFrom(upstreamIP, 55)

	s := startResolver(t, a, testTable(t), []netip.AddrPort{closed, bad, upstream, netip.AddrPortFrom(upstreamIP, 56)}, Options{Timeout: time.Second})
	if got := s.Upstreams(); !slices.Equal(got, []netip.AddrPort{closed, bad, upstream}) {
		t.Errorf("upstreams %v: only the first three are used", got)
	}
	// One try only, with time to spare: a retry on a loaded machine would
	// reach the upstreams twice and spoil the counts below.
	once := probe.Opts{Timeout: 5 * time.Second, Try: 5 * time.Second}
	if addrs, _, err := probe.DNS(context.Background(), a, Address, "ext.example", mdns.TypeA, once); err != nil || !slices.Equal(addrs, []netip.Addr{extAddr}) {
		t.Errorf("ext.example: %v", addrs)
	}
	if failing.seen() != 1 || good.seen() != 1 {
		t.Errorf("servfail upstream saw %d, good one %d; want 1 and 1", failing.seen(), good.seen())
	}

	// Only failing upstreams: the last answer received is passed on.
	s.Close()
	startResolver(t, a, testTable(t), []netip.AddrPort{bad, closed}, Options{Timeout: time.Second})
	_, _, err := probe.DNS(context.Background(), a, Address, "ext.example", mdns.TypeA, once)
	var rc *probe.RcodeError
	if !errors.As(err, &rc) || rc.Rcode != mdns.RcodeServerFailure {
		t.Errorf("ext.example with failing upstreams: %v", err)
	}
	if failing.seen() != 2 || good.seen() != 1 {
		t.Errorf("servfail upstream saw %d, good one %d; want 2 and 1", failing.seen(), good.seen())
	}
}

// With ndots set by the user, unknown single labels are answered empty.
func TestResolverNdots(t *testing.T) {
	up := &upstreamDNS{}
	a, _ := resolverLab(t, up)
	startResolver(t, a, testTable(t), []netip.AddrPort{upstream}, Options{NdotsSet: true})
	if _, msg := ask(t, a, "printer", mdns.TypeA); msg.Rcode != mdns.RcodeSuccess || len(msg.Answer) != 0 {
		t.Errorf("printer: %v", msg)
	}
	if up.seen() != 0 {
		t.Errorf("single label forwarded")
	}
	if addrs, _ := ask(t, a, "ext.example", mdns.TypeA); len(addrs) != 1 {
		t.Errorf("ext.example: %v", addrs)
	}
}

// Changes to the table show at once; a deleted name is forwarded.
func TestResolverFollowsTable(t *testing.T) {
	up := &upstreamDNS{}
	a, _ := resolverLab(t, up)
	tb := NewTable()
	startResolver(t, a, tb, []netip.AddrPort{upstream}, Options{})
	if err := tb.Set("ep", Record{Name: "late", Addr: netip.MustParseAddr("172.18.0.20")}); err != nil {
		t.Fatal(err)
	}
	if addrs, _ := ask(t, a, "late", mdns.TypeA); len(addrs) != 1 {
		t.Errorf("late: %v", addrs)
	}
	tb.Delete("ep")
	_, _, err := probe.DNS(context.Background(), a, Address, "late", mdns.TypeA, quick)
	var rc *probe.RcodeError
	if !errors.As(err, &rc) || rc.Rcode != mdns.RcodeNameError || up.seen() != 1 {
		t.Errorf("late after delete: %v (upstream saw %d)", err, up.seen())
	}
}

// Close leaves nothing listening: 127.0.0.11:53 can be bound again over
// UDP and TCP, and a second server starts.
func TestResolverClose(t *testing.T) {
	nstest.NeedRoot(t)
	a := nstest.NewNS(t, prefix, "a")
	s, err := Start(a, NewTable(), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A second resolver in the same namespace cannot start.
	if s2, err := Start(a, NewTable(), nil, Options{}); err == nil {
		s2.Close()
		t.Error("second resolver started on the same address")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	err = netns.Do(a, func() error {
		u, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(Address))
		if err != nil {
			return err
		}
		u.Close()
		l, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(Address))
		if err != nil {
			return err
		}
		return l.Close()
	})
	if err != nil {
		t.Errorf("after Close: %v", err)
	}
	s, err = Start(a, NewTable(), nil, Options{})
	if err != nil {
		t.Fatalf("start again: %v", err)
	}
	s.Close()
}

func TestStartRejectsBadInput(t *testing.T) {
	if _, err := Start("", NewTable(), nil, Options{}); err == nil {
		t.Error("no namespace accepted")
	}
	if _, err := Start("/run/netns/x", nil, nil, Options{}); err == nil {
		t.Error("no table accepted")
	}
	for _, u := range []netip.AddrPort{{}, netip.MustParseAddrPort("0.0.0.0:53"), netip.MustParseAddrPort("10.0.0.1:0")} {
		if _, err := Start("/run/netns/x", NewTable(), []netip.AddrPort{u}, Options{}); err == nil {
			t.Errorf("upstream %v accepted", u)
		}
	}
	if _, err := Start("/nonexistent/netns", NewTable(), nil, Options{}); err == nil {
		t.Error("missing namespace accepted")
	}
}
