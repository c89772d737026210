package firewall

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/netns/probe"
)

// TestBehaviour puts each backend in the host of a small topology and
// checks Docker's policy on real packets: ICC, isolation between bridges,
// masquerading, a published port, ICC off with a link, an internal network,
// and that Teardown gives the host back its plain routing.
func TestBehaviour(t *testing.T) {
	eachBackend(t, testBehaviour)
}

// silent bounds the checks that a path must fail: each waits all of it.
var silent = probe.Opts{Timeout: time.Second}

func testBehaviour(t *testing.T, kind string) {
	tp := buildTopology(t, kind[:3])
	ctx := context.Background()
	srv, err := probe.ListenUDP(tp.out, ipOut.String()+":9999")
	must(t, err)
	defer srv.Close()
	sink := netip.AddrPortFrom(ipOut, 9999)

	// Without a firewall the host routes between its bridges, and a
	// container reaches out with its own address: what follows changes
	// because of the rules, not because of the topology.
	if _, err := probe.Ping(ctx, tp.c1, ipC3, probe.Opts{}); err != nil {
		t.Fatalf("without firewall: %v", err)
	}
	if src, err := sourceSeen(ctx, tp.c1, srv, sink); err != nil || src != ipC1 {
		t.Fatalf("without firewall: out sees c1 as %v (err %v), want %v", src, err, ipC1)
	}

	b := newBackend(t, kind, tp.host)
	must(t, b.Setup())
	must(t, b.AddNetwork(netA))
	must(t, b.AddNetwork(netB))
	web := Port{Bridge: netA.Bridge, Proto: "tcp", HostPort: 8080, ContainerIP: ipC1, ContainerPort: 80}
	must(t, b.AddPort(web))

	if _, err := probe.Ping(ctx, tp.c1, ipC2, probe.Opts{}); err != nil {
		t.Errorf("ICC on br-a: %v", err)
	}
	if err := probe.ExpectUnreachable(ctx, tp.c1, ipC3, silent); err != nil {
		t.Errorf("isolation br-a → br-b: %v", err)
	}
	if err := probe.ExpectUnreachable(ctx, tp.c3, ipC1, silent); err != nil {
		t.Errorf("isolation br-b → br-a: %v", err)
	}
	if src, err := sourceSeen(ctx, tp.c1, srv, sink); err != nil || src != ipHst {
		t.Errorf("masquerade: out sees c1 as %v (err %v), want %v", src, err, ipHst)
	}
	if _, err := probe.Ping(ctx, tp.c3, ipOut, probe.Opts{}); err != nil {
		t.Errorf("br-b → out: %v", err)
	}

	// The published port, from outside and from the host itself (nat
	// OUTPUT), to a TCP echo server in c1; nothing listens on the host.
	echo1, err := probe.ServeTCPEcho(tp.c1, ":80")
	must(t, err)
	defer echo1.Close()
	published := netip.AddrPortFrom(ipHst, 8080)
	if err := probe.TCP(ctx, tp.out, published, probe.Opts{}); err != nil {
		t.Errorf("published port from out: %v", err)
	}
	if err := probe.TCP(ctx, tp.host, published, probe.Opts{}); err != nil {
		t.Errorf("published port from the host: %v", err)
	}
	must(t, b.RemovePort(web))
	if err := probe.TCP(ctx, tp.out, published, silent); !errors.Is(err, probe.ErrDeadline) {
		t.Errorf("after RemovePort, want no connection to %s from out, got %v", published, err)
	}

	// ICC off: same-bridge traffic dropped, except what a link allows.
	noICC := netA
	noICC.ICC = false
	must(t, b.RemoveNetwork(netA))
	must(t, b.AddNetwork(noICC))
	if err := probe.ExpectUnreachable(ctx, tp.c1, ipC2, silent); err != nil {
		t.Errorf("ICC off on br-a: %v", err)
	}
	echo2, err := probe.ServeTCPEcho(tp.c2, ":80")
	must(t, err)
	defer echo2.Close()
	must(t, b.AddLink(Link{Bridge: netA.Bridge, From: ipC1, To: ipC2, Ports: []PortProto{{"tcp", 80}}}))
	if err := probe.TCP(ctx, tp.c1, netip.AddrPortFrom(ipC2, 80), probe.Opts{}); err != nil {
		t.Errorf("link c1 → c2:80 with ICC off: %v", err)
	}
	if err := probe.TCP(ctx, tp.c2, netip.AddrPortFrom(ipC1, 80), silent); !errors.Is(err, probe.ErrDeadline) {
		t.Errorf("link is one way: want no connection c2 → c1:80, got %v", err)
	}
	if err := probe.ExpectUnreachable(ctx, tp.c1, ipC2, silent); err != nil {
		t.Errorf("link allows tcp/80 only: %v", err)
	}

	// An internal network has no way out.
	internal := netB
	internal.Internal = true
	must(t, b.RemoveNetwork(netB))
	must(t, b.AddNetwork(internal))
	if err := probe.ExpectUnreachable(ctx, tp.c3, ipOut, silent); err != nil {
		t.Errorf("internal br-b → out: %v", err)
	}

	must(t, b.Teardown())
	if rest := ruleset(t, kind, tp.host); rest != "" {
		t.Errorf("after Teardown the host still has rules:\n%s", rest)
	}
	if _, err := probe.Ping(ctx, tp.c1, ipC3, probe.Opts{}); err != nil {
		t.Errorf("after Teardown, plain routing br-a → br-b: %v", err)
	}
}

// ruleset is what the backend's own listing tool shows in the namespace,
// "" when nothing.
func ruleset(t *testing.T, kind, ns string) string {
	t.Helper()
	if kind == KindIPTables {
		return strings.Join(iptablesSave(t, ns), "\n")
	}
	return strings.TrimSpace(nftRuleset(t, ns))
}
