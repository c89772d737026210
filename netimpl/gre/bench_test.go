package gre

import (
	"testing"
	"time"

	"github.com/nslab/nslab/netimpl/internal/pathbench"
	"github.com/nslab/nslab/netns/nstest"
)

// The benchmarks compare container-to-container traffic through the
// userspace gretap (E19's picture) with two containers on one veth pair.
// Run: go test -run '^$' -bench . -benchtime 1x ./netimpl/gre/

// benchMTU is one MTU setting of the benchmarks.
type benchMTU struct {
	name      string
	underlay  int // hosts' link MTU
	container int // containers' veth MTU (Docker's --mtu)
}

var benchMTUs = []benchMTU{
	// A 1500-byte Ethernet underlay: the containers get the tunnel's
	// MTU, as one gives Docker --mtu over any tunnel.
	{"underlay1500", 1500, 1500 - Overhead(false, false)},
	// An underlay with room for full 1500-byte container frames.
	{"underlay1538", 1500 + Overhead(false, false), 1500},
	// A jumbo-frame underlay and containers to match.
	{"underlay9000", 9000, 9000 - Overhead(false, false)},
}

// e19Bench is the tunnel lab with userspace tunnels, warmed up.
func e19Bench(b *testing.B, m benchMTU) *e19 {
	b.Helper()
	l := newE19(b, m.underlay, m.container)
	a, c := tunnelConfigs()
	tunnel(b, l.h1, a, CreateUserspace)
	tunnel(b, l.h2, c, CreateUserspace)
	ping(b, l.c1, c2IP)
	ping(b, l.c2, c1IP)
	return l
}

// directBench is the baseline: c1 and c2 on one veth pair, with on-link
// routes to each other's network.
func directBench(b *testing.B, mtu int) (c1, c2 string) {
	b.Helper()
	c1, c2 = nstest.NewNS(b, prefix, "d1"), nstest.NewNS(b, prefix, "d2")
	veth(b, c1, "eth0", c2, "eth0", mtu)
	nstest.Addr(b, c1, "eth0", "172.18.0.2/16")
	nstest.Addr(b, c2, "eth0", "172.17.0.2/16")
	nstest.Route(b, c1, "172.17.0.0/16", "", "eth0")
	nstest.Route(b, c2, "172.18.0.0/16", "", "eth0")
	ping(b, c1, c2IP)
	return c1, c2
}

// BenchmarkE19Throughput: TCP c1 -> c2 for 2 s through the userspace
// tunnel and over a plain veth, in Gbit/s, and their ratio.
func BenchmarkE19Throughput(b *testing.B) {
	nstest.NeedRoot(b)
	for _, m := range benchMTUs {
		b.Run(m.name, func(b *testing.B) {
			l := e19Bench(b, m)
			d1, d2 := directBench(b, m.container)
			var tun, direct float64
			for range b.N {
				t, err := pathbench.Throughput(l.c1, l.c2, c2IP, 2*time.Second)
				if err != nil {
					b.Fatalf("tunnel: %v", err)
				}
				v, err := pathbench.Throughput(d1, d2, c2IP, 2*time.Second)
				if err != nil {
					b.Fatalf("veth: %v", err)
				}
				tun += t
				direct += v
			}
			tun /= float64(b.N)
			direct /= float64(b.N)
			b.ReportMetric(tun/1e9, "tunnel-Gbit/s")
			b.ReportMetric(direct/1e9, "veth-Gbit/s")
			b.ReportMetric(tun/direct, "ratio")
		})
	}
}

// BenchmarkE19RTT: median idle ping RTT over 200 pings through the
// userspace tunnel and over a plain veth, and what the tunnel adds, in ms.
func BenchmarkE19RTT(b *testing.B) {
	nstest.NeedRoot(b)
	m := benchMTUs[0]
	l := e19Bench(b, m)
	d1, _ := directBench(b, m.container)
	var tun, direct time.Duration
	for range b.N {
		t, err := pathbench.RTTP50(l.c1, c2IP, 200)
		if err != nil {
			b.Fatalf("tunnel: %v", err)
		}
		v, err := pathbench.RTTP50(d1, c2IP, 200)
		if err != nil {
			b.Fatalf("veth: %v", err)
		}
		tun += t
		direct += v
	}
	ms := func(d time.Duration) float64 { return pathbench.Ms(d) / float64(b.N) }
	b.ReportMetric(ms(tun), "tunnel-p50-ms")
	b.ReportMetric(ms(direct), "veth-p50-ms")
	b.ReportMetric(ms(tun-direct), "added-ms")
}
