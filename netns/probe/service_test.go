package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nslab/nslab/netns/nstest"
)

// serve takes a probe's far side as it is started and closes it when the
// test ends: srv := serve(t)(ServeUDPEcho(ns, ":0")).
func serve(t *testing.T) func(*Server, error) *Server {
	return func(s *Server, err error) *Server {
		t.Helper()
		return nstest.Started(t, s, err)
	}
}

// failsWholeDeadline checks a probe that must fail: a deadline error, after
// the whole timeout, carrying the reason of the last try.
func failsWholeDeadline(t *testing.T, timeout time.Duration, reason string, probe func(Opts) error) {
	t.Helper()
	start := time.Now()
	err := probe(Opts{Timeout: timeout})
	took := time.Since(start)
	if !errors.Is(err, ErrDeadline) || !strings.Contains(err.Error(), reason) {
		t.Errorf("want a deadline error with %q, got %v", reason, err)
	}
	if took < timeout {
		t.Errorf("gave up after %s, before the %s deadline", took, timeout)
	}
	t.Logf("after %s: %v", took.Round(time.Millisecond), err)
}

func TestTCP(t *testing.T) {
	a, b := twoHosts(t)
	ctx := context.Background()
	srv := serve(t)(ServeTCPEcho(b, "192.168.100.2:0"))
	to := netip.AddrPortFrom(ipB, srv.Port())
	if err := TCP(ctx, a, to, Opts{}); err != nil {
		t.Fatal(err)
	}
	// The server echoes, and its peer is A's address: the socket lives in A.
	c, err := DialContext(ctx, a, "tcp", to.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); got != ipA {
		t.Errorf("client socket bound to %s, want %s", got, ipA)
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("echo: %q, %v", buf, err)
	}
	// Close ends the connections the server still holds.
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); err == nil {
		t.Errorf("connection still open after server Close: read %d", n)
	}
	failsWholeDeadline(t, 700*time.Millisecond, "connection refused", func(o Opts) error {
		return TCP(ctx, a, to, o)
	})
	// A silent address: each try ends at its own limit, the probe at its deadline.
	failsWholeDeadline(t, 1200*time.Millisecond, "i/o timeout", func(o Opts) error {
		o.Try = 300 * time.Millisecond
		return TCP(ctx, a, netip.AddrPortFrom(ipNone, 80), o)
	})
	start := time.Now()
	if err := TCP(ctx, a+"-missing", to, Opts{}); err == nil || errors.Is(err, ErrDeadline) || time.Since(start) > time.Second {
		t.Errorf("missing namespace: want a prompt error, got %v", err)
	}
}

func TestUDPEcho(t *testing.T) {
	a, b := twoHosts(t)
	ctx := context.Background()
	srv := serve(t)(ServeUDPEcho(b, ":0"))
	to := netip.AddrPortFrom(ipB, srv.Port())
	if err := UDPEcho(ctx, a, to, []byte("nslab probe"), Opts{}); err != nil {
		t.Fatal(err)
	}
	if err := UDPEcho(ctx, a, netip.AddrPortFrom(ip6B, srv.Port()), nil, Opts{}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	failsWholeDeadline(t, 700*time.Millisecond, "connection refused", func(o Opts) error {
		return UDPEcho(ctx, a, to, []byte("x"), o)
	})
}

func TestHTTPGet(t *testing.T) {
	a, b := twoHosts(t)
	ctx := context.Background()
	mux := http.NewServeMux()
	mux.HandleFunc("/who", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.RemoteAddr)
	})
	srv := serve(t)(ServeHTTP(b, "192.168.100.2:0", mux))
	base := fmt.Sprintf("http://%s", netip.AddrPortFrom(ipB, srv.Port()))
	status, body, err := HTTPGet(ctx, a, base+"/who", Opts{})
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK || !strings.HasPrefix(string(body), "hello 192.168.100.1:") {
		t.Errorf("got %d %q", status, body)
	}
	// Any response ends the probe; the status is the caller's to judge.
	if status, _, err := HTTPGet(ctx, a, base+"/none", Opts{}); err != nil || status != http.StatusNotFound {
		t.Errorf("want 404, got %d, %v", status, err)
	}
	// A name would be resolved by the machine's resolver, outside the lab.
	start := time.Now()
	if _, _, err := HTTPGet(ctx, a, "http://example.com/", Opts{}); err == nil || time.Since(start) > 100*time.Millisecond {
		t.Errorf("want a prompt refusal of a host name, got %v", err)
	}
	failsWholeDeadline(t, 700*time.Millisecond, "connection refused", func(o Opts) error {
		_, _, err := HTTPGet(ctx, a, fmt.Sprintf("http://%s/", netip.AddrPortFrom(ipB, srv.Port()+1)), o)
		return err
	})
}

// lab is a tiny authority: web.lab has one address; big.lab has more than
// this test lets fit over UDP, so UDP answers are truncated and the full
// answer comes over TCP; other names do not exist.
func labDNS(w dns.ResponseWriter, q *dns.Msg) {
	r := new(dns.Msg)
	r.SetReply(q)
	r.Authoritative = true
	name := q.Question[0].Name
	a := func(ip string) dns.RR {
		rr, _ := dns.NewRR(name + " 60 IN A " + ip)
		return rr
	}
	switch {
	case name == "web.lab." && q.Question[0].Qtype == dns.TypeA:
		r.Answer = append(r.Answer, a("192.168.100.2"))
	case name == "big.lab.":
		if w.RemoteAddr().Network() == "udp" {
			r.Truncated = true
			break
		}
		for i := 10; i < 20; i++ {
			r.Answer = append(r.Answer, a(fmt.Sprintf("192.168.100.%d", i)))
		}
	default:
		r.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(r)
}

func TestDNS(t *testing.T) {
	a, b := twoHosts(t)
	ctx := context.Background()
	srv := serve(t)(ServeDNS(b, "192.168.100.2:0", dns.HandlerFunc(labDNS)))
	server := netip.AddrPortFrom(ipB, srv.Port())
	addrs, msg, err := DNS(ctx, a, server, "web.lab", dns.TypeA, Opts{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(addrs, []netip.Addr{ipB}) || !msg.Authoritative {
		t.Errorf("web.lab: got %v\n%v", addrs, msg)
	}
	addrs, _, err = DNS(ctx, a, server, "big.lab.", dns.TypeA, Opts{})
	if err != nil || len(addrs) != 10 || addrs[0] != netip.MustParseAddr("192.168.100.10") {
		t.Errorf("big.lab (truncated, then tcp): got %v, %v", addrs, err)
	}
	start := time.Now()
	_, msg, err = DNS(ctx, a, server, "nope.lab", dns.TypeA, Opts{})
	var rc *RcodeError
	if !errors.As(err, &rc) || rc.Rcode != dns.RcodeNameError || msg == nil || time.Since(start) > time.Second {
		t.Errorf("nope.lab: want a prompt NXDOMAIN, got %v after %s", err, time.Since(start))
	} else {
		t.Log(err)
	}
	failsWholeDeadline(t, 700*time.Millisecond, "connection refused", func(o Opts) error {
		_, _, err := DNS(ctx, a, netip.AddrPortFrom(ipB, srv.Port()+1), "web.lab", dns.TypeA, o)
		return err
	})
}

// Input that cannot name a lab address is refused before any namespace is
// entered, so these run without root.
func TestRefusesNames(t *testing.T) {
	ctx := context.Background()
	if _, err := DialContext(ctx, "/nonexistent", "tcp", "example.com:80"); err == nil ||
		!strings.Contains(err.Error(), "ip:port") {
		t.Errorf("dial by name: %v", err)
	}
	if _, err := ListenTCP("/nonexistent", "localhost:0"); err == nil || !strings.Contains(err.Error(), "IP literal") {
		t.Errorf("listen by name: %v", err)
	}
	if _, err := DialContext(ctx, "/nonexistent", "tcp4", "[fd00::1]:80"); err == nil {
		t.Error("tcp4 with an IPv6 address accepted")
	}
	if _, _, err := HTTPGet(ctx, "/nonexistent", "ftp://10.0.0.1/", Opts{}); err == nil {
		t.Error("ftp scheme accepted")
	}
}

// Cancelling the caller's context wakes a probe blocked in connect or read
// at once, and is reported as the cancellation, never as a silent path.
func TestCancelStopsPromptly(t *testing.T) {
	a, b := twoHosts(t)
	// A UDP socket that never answers: reads block until woken.
	mute, err := ListenUDP(b, "192.168.100.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	muteAddr := mute.LocalAddr().(*net.UDPAddr).AddrPort()
	o := Opts{Timeout: 5 * time.Second, Try: 5 * time.Second}
	probes := map[string]func(context.Context) error{
		"tcp": func(ctx context.Context) error { return TCP(ctx, a, netip.AddrPortFrom(ipNone, 80), o) },
		"udp": func(ctx context.Context) error { return UDPEcho(ctx, a, muteAddr, nil, o) },
		"dns": func(ctx context.Context) error {
			_, _, err := DNS(ctx, a, muteAddr, "web.lab", dns.TypeA, o)
			return err
		},
		"ping": func(ctx context.Context) error { _, err := Ping(ctx, a, ipNone, o); return err },
	}
	for name, probe := range probes {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		err := probe(ctx)
		took := time.Since(start)
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrDeadline) || took > time.Second {
			t.Errorf("%s: want a prompt cancellation, got %v after %s", name, err, took)
		}
		t.Logf("%s: %v", name, err)
		cancel()
	}
}
