package probe

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/nstest"
)

func TestPingBothWays(t *testing.T) {
	a, b := twoHosts(t)
	ctx := context.Background()
	for _, c := range []struct {
		ns  string
		dst netip.Addr
	}{{a, ipB}, {b, ipA}, {a, ip6B}, {b, ip6A}} {
		r, err := Ping(ctx, c.ns, c.dst, Opts{})
		if err != nil {
			t.Fatal(err)
		}
		if r.From != c.dst {
			t.Errorf("ping %s from %s: reply from %s", c.dst, c.ns, r.From)
		}
		// A fresh namespace answers with the kernel's default TTL/hop limit.
		if r.TTL != 64 || r.RTT <= 0 || r.Seq < 1 || r.Tries < r.Seq {
			t.Errorf("ping %s from %s: implausible reply %+v", c.dst, c.ns, r)
		}
		t.Logf("ping %s from %s: %+v", c.dst, c.ns, r)
	}
	if err := ExpectReachable(ctx, a, ipB); err != nil {
		t.Error(err)
	}

	// A link-local address needs its zone, which names an interface of the
	// probing namespace (A's "ab"), not of the caller's.
	ll := linkLocal(t, b, "ba").WithZone("ab")
	r, err := Ping(ctx, a, ll, Opts{})
	if err != nil || r.From != ll.WithZone("") {
		t.Errorf("ping %s: %+v, %v", ll, r, err)
	}
	t.Logf("ping %s from %s: %+v", ll, a, r)
}

func linkLocal(t *testing.T, ns, link string) netip.Addr {
	t.Helper()
	addrs, err := netns.AddrList(nstest.Handle(t, ns), nstest.Link(t, ns, link), netlink.FAMILY_V6)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.IsLinkLocalUnicast() {
			return ip
		}
	}
	t.Fatalf("%s: %s has no link-local address: %v", ns, link, addrs)
	return netip.Addr{}
}

func TestPingNoHostWaitsWholeDeadline(t *testing.T) {
	a, _ := twoHosts(t)
	o := Opts{Timeout: 1500 * time.Millisecond}
	start := time.Now()
	_, err := Ping(context.Background(), a, ipNone, o)
	took := time.Since(start)
	if !errors.Is(err, ErrDeadline) {
		t.Fatalf("want ErrDeadline, got %v", err)
	}
	var de *DeadlineError
	if !errors.As(err, &de) || de.Tries < 10 {
		t.Errorf("want about 15 tries at 100ms, got %v", err)
	}
	if took < o.Timeout || took > o.Timeout+time.Second {
		t.Errorf("took %s, want the whole %s deadline", took, o.Timeout)
	}
	if !strings.HasPrefix(err.Error(), "ping 192.168.100.99 from "+a+": no reply in 1.5s (") {
		t.Errorf("error does not say what was tried: %v", err)
	}
	t.Logf("after %s: %v", took, err)

	// Long enough for ARP to give up: the kernel's host-unreachable about
	// our own request is named as the last failure.
	_, err = Ping(context.Background(), a, ipNone, Opts{Timeout: 4 * time.Second})
	if !errors.Is(err, ErrDeadline) || !strings.Contains(err.Error(), "host unreachable") {
		t.Errorf("want a deadline error naming host unreachable, got %v", err)
	} else {
		t.Log(err)
	}

	if err := ExpectUnreachable(context.Background(), a, ipNone, Opts{Timeout: time.Second}); err != nil {
		t.Error(err)
	}
	if err := ExpectUnreachable(context.Background(), a, ipB, Opts{Timeout: time.Second}); err == nil {
		t.Error("ExpectUnreachable passed for a host that answers")
	} else {
		t.Log(err)
	}
}

// A check that stopped early, or could not even start, has not observed
// silence: it must never count as "unreachable".
func TestPingCannotTellIsNotUnreachable(t *testing.T) {
	a, _ := twoHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Ping(ctx, a, ipNone, Opts{Timeout: 5 * time.Second})
	if errors.Is(err, ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("want the caller's context error, got %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("cancel took %s", took)
	}
	if err := ExpectUnreachable(ctx, a, ipNone, Opts{}); err == nil {
		t.Error("ExpectUnreachable passed with a context that ended first")
	}
	missing := a + "-missing"
	if err := ExpectUnreachable(context.Background(), missing, ipNone, Opts{}); err == nil ||
		!strings.Contains(err.Error(), missing) {
		t.Errorf("want an error naming the missing namespace, got %v", err)
	}
}

// Every raw ICMP socket of a namespace sees every echo reply: concurrent
// pings must keep to their own. Pings to a silent address run alongside
// pings that get answers, and must still fail.
func TestConcurrentPingsKeepTheirReplies(t *testing.T) {
	a, b := twoHosts(t)
	type job struct {
		ns     string
		dst    netip.Addr
		silent bool
	}
	var jobs []job
	for range 20 {
		jobs = append(jobs, job{a, ipB, false})
	}
	for range 10 {
		jobs = append(jobs, job{b, ipA, false})
	}
	for range 6 {
		jobs = append(jobs, job{a, ipNone, true})
	}
	errs := make([]error, len(jobs))
	replies := make([]Reply, len(jobs))
	var wg sync.WaitGroup
	start := time.Now()
	for i, j := range jobs {
		wg.Go(func() {
			replies[i], errs[i] = Ping(context.Background(), j.ns, j.dst, Opts{Timeout: 2 * time.Second})
		})
	}
	wg.Wait()
	var worst time.Duration
	for i, j := range jobs {
		switch {
		case j.silent && !errors.Is(errs[i], ErrDeadline):
			t.Errorf("ping %s: want no reply, got %+v, %v", j.dst, replies[i], errs[i])
		case !j.silent && errs[i] != nil:
			t.Errorf("ping %s: %v", j.dst, errs[i])
		case !j.silent && replies[i].From != j.dst:
			t.Errorf("ping %s: reply from %s", j.dst, replies[i].From)
		case !j.silent:
			worst = max(worst, replies[i].RTT)
		}
	}
	t.Logf("%d concurrent pings in %s, slowest answered RTT %s", len(jobs), time.Since(start), worst)
}
