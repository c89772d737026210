package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/nstest"
)

// Three hosts: a and b share a veth segment; c's cable into a is unplugged
// (a's end is down), so c reaches nobody and nobody reaches c.
func TestReachabilityMatrix(t *testing.T) {
	a, b := twoHosts(t)
	c := nstest.NewNS(t, prefix, "c")
	nstest.Veth(t, a, "ac", c, "ca")
	nstest.Addr(t, c, "ca", "192.168.100.3/24")
	nstest.AddrOnly(t, a, "ac", "192.168.101.1/24")
	eps := []Endpoint{{"a", a, ipA}, {"b", b, ipB}, {"c", c, ipC}}
	o := Opts{Timeout: 1500 * time.Millisecond}

	got := Reachability(context.Background(), eps, o)
	want := Groups([]string{"a", "b"}, []string{"c"})
	if d := got.Diff(want); d != "" {
		t.Fatal(d)
	}
	if !got.Equal(want) || !got.Reachable("a", "b") || !got.Reachable("b", "a") || got.Reachable("a", "c") {
		t.Errorf("accessors disagree with Diff:\n%s", got)
	}
	if err := got.Err("c", "b"); !errors.Is(err, ErrDeadline) {
		t.Errorf("c → b: want a deadline error, got %v", err)
	}
	// Six pings in parallel: the silent ones take one deadline, not four.
	if got.Elapsed < o.Timeout || got.Elapsed > 2*o.Timeout {
		t.Errorf("matrix took %s, want about %s", got.Elapsed, o.Timeout)
	}
	t.Logf("matrix in %s:\n%s", got.Elapsed.Round(time.Millisecond), got)

	// The same matrix is wrong against an expectation that c is joined.
	if got.Equal(Groups([]string{"a", "b", "c"})) {
		t.Error("matrix equal to the all-reachable expectation")
	}

	// An endpoint that cannot be probed is unknown, never "unreachable".
	eps = append(eps, Endpoint{"d", a + "-missing", ipNone})
	got = Reachability(context.Background(), eps, o)
	d := got.Diff(Groups([]string{"a", "b"}, []string{"c"}, []string{"d"}))
	if !strings.Contains(d, "d → a: want unreachable, got unknown") || !strings.Contains(got.String(), "?") {
		t.Errorf("missing namespace not reported as unknown:\n%s", d)
	}
}

func TestMatrixExpectations(t *testing.T) {
	want := NewMatrix("x", "y", "z").Allow("x", "y", "z").Allow("y", "x")
	if !want.Equal(Groups([]string{"x", "y"}, []string{"z"}).Allow("x", "z")) {
		t.Error("the same pairs built two ways differ")
	}
	if !want.Reachable("x", "z") || want.Reachable("z", "x") || want.Reachable("x", "x") {
		t.Error("Allow is one-way and the diagonal is never reachable")
	}
	// Order of endpoints does not matter.
	if !want.Equal(NewMatrix("z", "y", "x").Allow("x", "y", "z").Allow("y", "x")) {
		t.Error("same matrix in another order differs")
	}
	other := NewMatrix("x", "y", "z").Allow("x", "y")
	d := other.Diff(want)
	if !strings.Contains(d, "x → z: want reachable, got unreachable") || strings.Contains(d, "x → y") {
		t.Errorf("diff:\n%s", d)
	}
	if d := NewMatrix("x", "y").Diff(NewMatrix("x", "w")); !strings.Contains(d, "endpoint w: missing") ||
		!strings.Contains(d, "endpoint y: not expected") {
		t.Errorf("diff of different endpoints:\n%s", d)
	}
	if NewMatrix("x", "x").Equal(NewMatrix("x", "x")) {
		t.Error("a matrix with a name twice compared equal")
	}
	table := want.String()
	wantTable := "from\\to x y z\n" +
		"x       · ✓ ✓\n" +
		"y       ✓ · ✗\n" +
		"z       ✗ ✗ ·\n"
	if table != wantTable {
		t.Errorf("table:\n%q\nwant\n%q", table, wantTable)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Allow with an unknown name did not panic")
			}
		}()
		want.Allow("x", "typo")
	}()
}

func TestDeadlineError(t *testing.T) {
	refused := errors.New("connection refused")
	timeout := fmt.Errorf("read: %w", context.DeadlineExceeded)
	err := error(&DeadlineError{What: "udp echo 10.0.0.2:7 from /run/netns/x", Want: "echo",
		Timeout: 5 * time.Second, Tries: 12, Last: timeout, Earlier: refused})
	if got := err.Error(); got != "udp echo 10.0.0.2:7 from /run/netns/x: no echo in 5s (12 tries); "+
		"last: read: context deadline exceeded; before that: connection refused" {
		t.Errorf("message: %s", got)
	}
	if !errors.Is(err, ErrDeadline) || !errors.Is(err, refused) || !errors.Is(err, context.DeadlineExceeded) {
		t.Error("errors.Is does not see through DeadlineError")
	}
	if o := (Opts{}).withDefaults(); o.Timeout != 5*time.Second || o.Interval != 100*time.Millisecond || o.Try != time.Second {
		t.Errorf("defaults: %+v", o)
	}
}

// Sources × destinations: a pings five addresses of b through one socket
// (each reply told apart by its echo identifier), b pings a and an address
// nobody has; a pair of an endpoint with itself is left out.
func TestRunSourcesToDestinations(t *testing.T) {
	a, b := twoHosts(t)
	var dsts []Endpoint
	for i := 10; i < 15; i++ {
		cidr := fmt.Sprintf("192.168.100.%d/24", i)
		nstest.Addr(t, b, "ba", cidr)
		dsts = append(dsts, Endpoint{fmt.Sprintf("b%d", i), b, netip.MustParseAddr(strings.TrimSuffix(cidr, "/24"))})
	}
	dsts = append(dsts, Endpoint{"a", a, ipA}, Endpoint{"nobody", b, ipNone})
	srcs := []Endpoint{{"a", a, ipA}, {"b", b, ipB}}
	// A veth passes nothing until the kernel's link watcher has
	// activated it, up to a second after it came up.
	o := MatrixOpts{Opts: Opts{Timeout: 2 * time.Second}}
	// a and b know each other's first address before the matrix: those
	// entries stay; the ones its pings add go again.
	if _, err := Ping(context.Background(), a, dsts[0].Addr, o.Opts); err != nil {
		t.Fatal(err)
	}
	got := Run(context.Background(), srcs, dsts, o)
	want := NewPairs([]string{"a", "b"}, names(dsts)).
		Allow("a", "b10", "b11", "b12", "b13", "b14").
		Allow("b", "b10", "b11", "b12", "b13", "b14", "a")
	if d := got.Diff(want); d != "" {
		t.Fatal(d)
	}
	rs := got.Results()
	if len(rs) != 2*len(dsts)-1 {
		t.Fatalf("%d results, want %d (a → a left out):\n%s", len(rs), 2*len(dsts)-1, got)
	}
	for _, r := range rs {
		d := dsts[slices.IndexFunc(dsts, func(e Endpoint) bool { return e.Name == r.To })]
		switch {
		case r.To == "nobody":
			if r.Reachable() || !errors.Is(r.Err, ErrDeadline) {
				t.Errorf("%s → nobody: want a deadline error, got %v", r.From, r.Err)
			}
		case !r.Reachable() || r.Reply.From != d.Addr || r.Reply.Tries < 1:
			t.Errorf("%s → %s: %+v (want a reply from %s)", r.From, r.To, r, d.Addr)
		}
	}
	t.Logf("%d pairs in %s:\n%s", len(rs), got.Elapsed.Round(time.Millisecond), got)
	if n := neighbourIPs(t, a); !slices.Equal(n, []string{"192.168.100.10"}) {
		t.Errorf("a's neighbour entries after the matrix: %v, want only 192.168.100.10, there before it", n)
	}
	if n := neighbourIPs(t, b); !slices.Equal(n, []string{"192.168.100.1"}) {
		t.Errorf("b's neighbour entries after the matrix: %v, want only 192.168.100.1, there before it", n)
	}
}

// neighbourIPs lists the dynamic IPv4 neighbour entries of ns, sorted.
func neighbourIPs(t *testing.T, ns string) []string {
	t.Helper()
	h := nstest.Handle(t, ns)
	list, err := netns.NeighList(h, 0, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range list {
		if n.State&(unix.NUD_NOARP|unix.NUD_PERMANENT) == 0 {
			out = append(out, n.IP.String())
		}
	}
	slices.Sort(out)
	return out
}

// Each pair keeps Ping's rule: requests go on until the deadline, so a
// destination that answers only after a while (its address arrives 400 ms
// into the run) is reachable, after several tries.
func TestRunRetriesUntilTheDeadline(t *testing.T) {
	a, b := twoHosts(t)
	late := netip.MustParseAddr("192.168.100.20")
	time.AfterFunc(400*time.Millisecond, func() { nstest.Addr(t, b, "ba", "192.168.100.20/24") })
	got := Run(context.Background(), []Endpoint{{"a", a, ipA}}, []Endpoint{{"late", b, late}},
		MatrixOpts{Opts: Opts{Timeout: 3 * time.Second, Interval: 100 * time.Millisecond}})
	r := got.Results()[0]
	if !r.Reachable() {
		t.Fatalf("a → late: %v", r.Err)
	}
	// When the address appears depends on the machine's load (21 tries,
	// 2.05 s, beside both suites in a CI run): the answer must come after
	// it, from one of several tries, before the deadline (Reachable).
	if r.Reply.Tries < 3 || got.Elapsed < 400*time.Millisecond {
		t.Errorf("a → late answered after %d tries in %s; want several tries, after 400 ms", r.Reply.Tries, got.Elapsed)
	}
}

// Parallel bounds how many sources ping at once: two silent sources with a
// deadline each take one deadline side by side and two one after the other.
// One after the other can take no less than two deadlines, so side by side
// must finish in less than that; no bound is set on the load's share.
func TestRunParallel(t *testing.T) {
	a, b := twoHosts(t)
	srcs := []Endpoint{{"a", a, ipA}, {"b", b, ipB}}
	dsts := []Endpoint{{"nobody", b, ipNone}}
	const deadline = time.Second
	for _, c := range []struct {
		parallel int
		min, max time.Duration
	}{{0, deadline, 2 * deadline}, {1, 2 * deadline, time.Minute}} {
		got := Run(context.Background(), srcs, dsts, MatrixOpts{Opts: Opts{Timeout: deadline}, Parallel: c.parallel})
		if got.Reachable("a", "nobody") || got.Reachable("b", "nobody") || got.Elapsed < c.min || got.Elapsed >= c.max {
			t.Errorf("parallel %d: %s, want at least %s and under %s:\n%s", c.parallel, got.Elapsed, c.min, c.max, got)
		}
	}
}
