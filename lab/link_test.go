package lab

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/netip"
	"os/exec"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/probe"
)

// linkLab is two plain hosts on lan0, h1 (10.99.0.2) with a route through
// h2 (10.99.0.3), so that a pulled cable can be seen to keep it.
func linkLab(t *testing.T) (*Lab, *Host, *Host) {
	t.Helper()
	requireRoot(t)
	topo := plainTopology(2)
	topo.Hosts[0].Routes = []RouteSpec{{To: netip.MustParsePrefix("10.50.0.0/16"), Via: netip.MustParseAddr("10.99.0.3")}}
	l := upLab(t, topo, Options{})
	return l, l.Hosts()[0], l.Hosts()[1]
}

// fabricLink reads a link of the lab's fabric namespace.
func fabricLink(t *testing.T, l *Lab, name string) netlink.Link {
	t.Helper()
	links, _ := linksOf(t, netns.Path(l.ID()+"-"+fabricPinName))
	return links[name]
}

// Unplugging eth1 of h1: its host end stays up without carrier, the fabric
// end is down, the route through the segment stays, pings stop within
// their deadline; plugged in again, they come back.
func TestLinkDownUp(t *testing.T) {
	l, h1, h2 := linkLab(t)
	ctx := context.Background()
	peer := netip.MustParseAddr("10.99.0.3")
	if _, err := probe.Ping(ctx, h1.NetNS(), peer, probe.Opts{Timeout: 5 * time.Second}); err != nil {
		t.Fatalf("before: %v", err)
	}

	if err := h1.SetLink(ctx, "eth1", false); err != nil {
		t.Fatal(err)
	}
	// The carrier flag changes at once; the operstate follows through the
	// kernel's link watch, within a second: down, or lower-layer-down when
	// the peer's index differs from the link's own.
	s := waitLink(t, h1, "eth1", func(s LinkStatus) bool { return s.HostEnd.OperState != "up" })
	want := LinkStatus{
		Host: "h1", Interface: "eth1", Segment: "lan0",
		HostEnd:   LinkEnd{Name: "eth1", Up: true, Carrier: false, OperState: s.HostEnd.OperState},
		FabricEnd: LinkEnd{Name: "h0i0", Up: false, Carrier: false, OperState: "down"},
	}
	if !reflect.DeepEqual(s, want) || (s.HostEnd.OperState != "down" && s.HostEnd.OperState != "lower-layer-down") {
		t.Errorf("unplugged:\n got %+v\nwant %+v", s, want)
	}
	// Read the kernel directly too: what Link reports is what netlink says.
	links, hh := linksOf(t, h1.NetNS())
	eth1 := links["eth1"].Attrs()
	if eth1.OperState == netlink.OperUp || eth1.RawFlags&unix.IFF_LOWER_UP != 0 || eth1.Flags&net.FlagUp == 0 {
		t.Errorf("host end: operstate %s, flags %#x", eth1.OperState, eth1.RawFlags)
	}
	if fe := fabricLink(t, l, "h0i0").Attrs(); fe.OperState != netlink.OperDown || fe.Flags&net.FlagUp != 0 {
		t.Errorf("fabric end: operstate %s, flags %v", fe.OperState, fe.Flags)
	}
	routes, err := netns.RouteList(hh, nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	kept := false
	for _, r := range routes {
		kept = kept || (r.Dst != nil && r.Dst.String() == "10.50.0.0/16")
	}
	if !kept {
		t.Errorf("the route via the unplugged link is gone: %v", routes)
	}
	if err := probe.ExpectUnreachable(ctx, h1.NetNS(), peer, probe.Opts{Timeout: 2 * time.Second}); err != nil {
		t.Errorf("unplugged: %v", err)
	}
	if err := probe.ExpectUnreachable(ctx, h2.NetNS(), netip.MustParseAddr("10.99.0.2"), probe.Opts{Timeout: 2 * time.Second}); err != nil {
		t.Errorf("unplugged, from the other side: %v", err)
	}

	if err := h1.SetLink(ctx, "eth1", true); err != nil {
		t.Fatal(err)
	}
	if _, err := probe.Ping(ctx, h1.NetNS(), peer, probe.Opts{Timeout: 5 * time.Second}); err != nil {
		t.Errorf("plugged in again: %v", err)
	}
	s = waitLink(t, h1, "eth1", func(s LinkStatus) bool { return s.HostEnd.OperState == "up" })
	if !s.HostEnd.Up || !s.HostEnd.Carrier || s.HostEnd.OperState != "up" || !s.FabricEnd.Up || !s.FabricEnd.Carrier {
		t.Errorf("plugged in again: %+v", s)
	}

	if err := h1.SetLink(ctx, "eth9", false); err == nil || !strings.Contains(err.Error(), `no interface "eth9"`) {
		t.Errorf("unknown interface: %v", err)
	}
}

// waitLink reads the link until ok says it is as wanted, for two seconds
// at most, and returns what it read last.
func waitLink(t *testing.T, h *Host, iface string, ok func(LinkStatus) bool) LinkStatus {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		s, err := h.Link(context.Background(), iface)
		if err != nil {
			t.Fatal(err)
		}
		if ok(s) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// iperf3 runs a server in to and a TCP client in from for 5 seconds
// (reverse: the server sends) and returns what the receiver counted, in
// bits per second.
func iperf3(t *testing.T, from, to *Host, addr string, reverse bool) float64 {
	t.Helper()
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Skip("needs iperf3 (Debian's iperf3) to measure rates")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := to.Command(ctx, "iperf3", "-s", "-1", "-B", addr)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Wait()
	defer srv.Process.Kill()
	args := []string{"iperf3", "-c", addr, "-t", "5", "-O", "1", "-J"}
	if reverse {
		args = append(args, "-R")
	}
	var out struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		// iperf3 -J reports a failure here, with exit status 0 at times.
		Error string `json:"error"`
	}
	// The server needs a moment to listen.
	for try := 0; ; try++ {
		r, err := from.Exec(ctx, args...)
		if err != nil {
			t.Fatal(err)
		}
		out.Error = ""
		jerr := json.Unmarshal([]byte(r.Stdout), &out)
		if jerr == nil && r.ExitCode == 0 && out.Error == "" {
			break
		}
		if try == 50 {
			t.Fatalf("iperf3: exit %d, %v, %s\n%s%s", r.ExitCode, jerr, out.Error, r.Stdout, r.Stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return out.End.SumReceived.BitsPerSecond
}

// A rate of 20 Mbit/s on h1's eth1 caps TCP both ways within 10 % of the
// goodput it leaves.
func TestLinkRate(t *testing.T) {
	t.Parallel() // waits on iperf3's seconds: beside the other long tests
	_, h1, h2 := linkLab(t)
	ctx := context.Background()
	const rate = 20_000_000
	if err := h1.Impair(ctx, "eth1", Impairment{Rate: rate}); err != nil {
		t.Fatal(err)
	}
	s, err := h1.Link(ctx, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if s.Out.Rate != rate || s.In.Rate != rate {
		t.Errorf("kernel shapes out %d, in %d bit/s; want %d", s.Out.Rate, s.In.Rate, rate)
	}
	// The shaper counts whole frames; iperf3 counts what TCP carries: of
	// each full frame of 1514 bytes (an MTU of 1500 and the Ethernet
	// header), 1448 (less the IP header and the TCP one with timestamps).
	const goodput = rate * 1448 / 1514
	for _, c := range []struct {
		name    string
		reverse bool
	}{{"out: h1 sends", false}, {"in: h1 receives", true}} {
		got := iperf3(t, h1, h2, "10.99.0.3", c.reverse)
		t.Logf("%s: %.2f Mbit/s at a rate of %s (%.2f Mbit/s of TCP payload)", c.name, got/1e6, FormatRate(rate), goodput/1e6)
		if math.Abs(got-goodput)/goodput > 0.10 {
			t.Errorf("%s: %.2f Mbit/s, want %.2f within 10%%", c.name, got/1e6, goodput/1e6)
		}
	}

	if err := h1.ClearImpairment(ctx, "eth1"); err != nil {
		t.Fatal(err)
	}
	if s, err := h1.Link(ctx, "eth1"); err != nil || !s.Out.isZero() || !s.In.isZero() {
		t.Errorf("after clear: %+v %v", s, err)
	}
	links, _ := linksOf(t, netns.Path(h1.lab.ID()+"-"+fabricPinName))
	if _, ok := links[ifbName("h0i0")]; ok {
		t.Errorf("the ifb of the cleared link is still there")
	}
	if got := iperf3(t, h1, h2, "10.99.0.3", false); got < 2*rate {
		t.Errorf("cleared: %.2f Mbit/s, still shaped", got/1e6)
	}
}

// pingLoss sends n pings 2 ms apart from h to dst and returns how many got
// no answer.
func pingLoss(t *testing.T, h *Host, dst string, n int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// One answered ping first, so that neither side's neighbour entry is
	// being resolved while the count runs.
	if _, err := probe.Ping(ctx, h.NetNS(), netip.MustParseAddr(dst), probe.Opts{Timeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	r, err := h.Exec(ctx, "ping", "-q", "-n", "-c", strconv.Itoa(n), "-i", "0.002", "-W", "1", dst)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) (packets )?received`).FindStringSubmatch(r.Stdout)
	if m == nil {
		t.Fatalf("ping: %s %s", r.Stdout, r.Stderr)
	}
	sent, _ := strconv.Atoi(m[1])
	got, _ := strconv.Atoi(m[2])
	if sent != n {
		t.Fatalf("ping sent %d, want %d: %s", sent, n, r.Stdout)
	}
	return sent - got
}

// binomialBounds is the central interval of Binomial(n, p) that holds
// with probability at least conf.
func binomialBounds(n int, p, conf float64) (lo, hi int) {
	tail := (1 - conf) / 2
	pmf := func(k int) float64 {
		lg := func(x int) float64 { v, _ := math.Lgamma(float64(x + 1)); return v }
		return math.Exp(lg(n) - lg(k) - lg(n-k) + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p))
	}
	cum := 0.0
	for lo = 0; lo <= n; lo++ {
		if cum+pmf(lo) > tail {
			break
		}
		cum += pmf(lo)
	}
	cum = 0
	for hi = n; hi >= 0; hi-- {
		if cum+pmf(hi) > tail {
			break
		}
		cum += pmf(hi)
	}
	return lo, hi
}

// 20 % loss on what h1 sends loses 20 % of 1000 pings, and on both ways
// 1-0.8² = 36 %, each within the 99.9999 % interval of the binomial law
// (±5 standard deviations: a run fails by chance once in a million, while
// 10 % or 30 % loss still falls outside).
func TestLinkLoss(t *testing.T) {
	t.Parallel() // waits on 4,200 pings: beside the other long tests
	_, h1, _ := linkLab(t)
	ctx := context.Background()
	const n = 1000
	for _, c := range []struct {
		dir     string
		perPing float64 // the chance that a ping goes unanswered
	}{{DirOut, 0.20}, {DirIn, 0.20}, {DirBoth, 1 - 0.8*0.8}} {
		if err := h1.Impair(ctx, "eth1", Impairment{Loss: 20, Direction: c.dir}); err != nil {
			t.Fatal(err)
		}
		lost := pingLoss(t, h1, "10.99.0.3", n)
		lo, hi := binomialBounds(n, c.perPing, 0.999999)
		t.Logf("loss 20%% %s: %d of %d pings lost (99.9999%% interval %d–%d)", c.dir, lost, n, lo, hi)
		if lost < lo || lost > hi {
			t.Errorf("loss 20%% %s: %d of %d pings lost, want %d–%d", c.dir, lost, n, lo, hi)
		}
		s, err := h1.Link(ctx, "eth1")
		if err != nil {
			t.Fatal(err)
		}
		// The kernel's counters: the frames its rules dropped.
		dropped := s.Out.Dropped + s.In.Dropped
		if s.Out.Loss != map[string]float64{DirOut: 20, DirIn: 0, DirBoth: 20}[c.dir] || dropped < uint64(lost) {
			t.Errorf("%s: kernel reports %+v", c.dir, s)
		}
		if err := h1.ClearImpairment(ctx, "eth1"); err != nil {
			t.Fatal(err)
		}
	}
	if lost := pingLoss(t, h1, "10.99.0.3", 200); lost != 0 {
		t.Errorf("cleared: %d of 200 pings lost", lost)
	}
}

// A delay needs netem. Without it (this kernel) the request is refused
// with the kernel's reason and the link stays exactly as it was.
func TestLinkDelay(t *testing.T) {
	_, h1, _ := linkLab(t)
	ctx := context.Background()
	if err := h1.Impair(ctx, "eth1", Impairment{Rate: 50_000_000, Loss: 1}); err != nil {
		t.Fatal(err)
	}
	before, err := h1.Link(ctx, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	netem := NetemSupport()
	err = h1.Impair(ctx, "eth1", Impairment{Rate: 10_000_000, Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond})
	if netem != nil {
		if !errors.Is(err, ErrNoNetem) {
			t.Fatalf("delay without netem: %v, want ErrNoNetem", err)
		}
		after, err := h1.Link(ctx, "eth1")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(before, after) {
			t.Errorf("a refused delay changed the link:\n%+v\n%+v", before, after)
		}
		topo := plainTopology(1)
		topo.Hosts[0].Interfaces[0].Impairment = &Impairment{Delay: time.Millisecond}
		root := t.TempDir()
		if _, err := Up(ctx, topo, Options{Root: root, ID: "nodelay"}); !errors.Is(err, ErrNoNetem) {
			t.Errorf("up with a delay: %v, want ErrNoNetem", err)
		}
		requireGone(t, "nodelay", root+"/nodelay")
		t.Skipf("delay and jitter: %v", netem)
	}
	if err != nil {
		t.Fatal(err)
	}
	r, err := probe.Ping(ctx, h1.NetNS(), netip.MustParseAddr("10.99.0.3"), probe.Opts{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.RTT < 20*time.Millisecond {
		t.Errorf("rtt %s with a delay of 20ms±5ms on both ways", r.RTT)
	}
}

// Impairments written in the topology are in the kernel once Up returns,
// and problems with them are reported with file and line.
func TestTopologyImpairment(t *testing.T) {
	const file = `
segments:
  - name: lan0
    prefix: 10.99.0.0/16
hosts:
  - name: h1
    kind: plain
    interfaces:
      - segment: lan0
        address: 10.99.0.2/16
        rate: 10mbit
        loss: 5%
        direction: out
  - name: h2
    kind: plain
    interfaces:
      - segment: lan0
        address: 10.99.0.3/16
`
	topo, err := ParseTopology("imp.yaml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := *topo.Hosts[0].Interfaces[0].Impairment, (Impairment{Rate: 10_000_000, Loss: 5, Direction: DirOut}); got != want {
		t.Errorf("parsed %+v, want %+v", got, want)
	}
	for _, c := range []struct{ field, value, want string }{
		{"rate", "10mbps", "imp.yaml:11: hosts[0].interfaces[0].rate: rate \"10mbps\": tc reads bps as bytes per second"},
		{"rate", "1kbit", "imp.yaml:11: hosts[0].interfaces[0].rate: 1kbit is below the least rate"},
		{"loss", "120%", "imp.yaml:11: hosts[0].interfaces[0].loss: loss \"120%\": want a percentage from 0 to 100"},
		{"loss", "0.001%", "imp.yaml:11: hosts[0].interfaces[0].loss: loss \"0.001%\": at most two decimals"},
		{"jitter", "5ms", "imp.yaml:11: hosts[0].interfaces[0].jitter: jitter 5ms varies a delay: give delay too"},
		{"delay", "soon", "imp.yaml:11: hosts[0].interfaces[0].delay: \"soon\": want a duration such as 10ms"},
		{"direction", "up", "imp.yaml:11: hosts[0].interfaces[0].direction: \"up\": want both, out or in"},
	} {
		bad := strings.Replace(file, "        rate: 10mbit\n        loss: 5%\n        direction: out\n", "        "+c.field+": "+c.value+"\n", 1)
		_, err := ParseTopology("imp.yaml", []byte(bad))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %s: error %v, want %q", c.field, c.value, err, c.want)
		}
	}

	requireRoot(t)
	l := upLab(t, topo, Options{})
	h1, _ := l.Host("h1")
	s, err := h1.Link(context.Background(), "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if s.Out.Rate != 10_000_000 || s.Out.Loss != 5 || !s.In.isZero() {
		t.Errorf("after up: %+v", s)
	}
}

func TestRateLossFormats(t *testing.T) {
	for in, want := range map[string]uint64{"500kbit": 500_000, "10mbit": 10_000_000, "10Mbit/s": 10_000_000, "1.5gbit": 1_500_000_000, "64000bit": 64_000} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
		if got, _ := ParseRate(FormatRate(want)); got != want {
			t.Errorf("FormatRate(%d) = %s does not read back", want, FormatRate(want))
		}
	}
	for in, want := range map[string]float64{"20%": 20, "20": 20, "0.5%": 0.5, "100%": 100} {
		if got, err := ParseLoss(in); err != nil || got != want {
			t.Errorf("ParseLoss(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if lo, hi := binomialBounds(1000, 0.2, 0.999); lo < 150 || lo > 165 || hi < 235 || hi > 250 {
		t.Errorf("binomial bounds of 1000 at 20%%: %d–%d", lo, hi)
	}
}
