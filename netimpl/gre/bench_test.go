package gre

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/nslab/nslab/lab/probe"
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
	// The document's 1500-byte underlay: the containers get the tunnel's
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
	c1, c2 = newNS(b, "d1"), newNS(b, "d2")
	veth(b, c1, "eth0", c2, "eth0", mtu)
	addr(b, c1, "eth0", "172.18.0.2/16")
	addr(b, c2, "eth0", "172.17.0.2/16")
	route(b, c1, "172.17.0.0/16", "", "eth0")
	route(b, c2, "172.18.0.0/16", "", "eth0")
	ping(b, c1, c2IP)
	return c1, c2
}

// throughput sends TCP from src to dst:5201 in dstNS for d and returns
// what the receiver counted, in bit/s, from its first to its last byte.
func throughput(src, dstNS string, dst netip.Addr, d time.Duration) (float64, error) {
	ln, err := probe.ListenTCP(dstNS, netip.AddrPortFrom(dst, 5201).String())
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	type result struct {
		bytes       int64
		first, last time.Time
		err         error
	}
	got := make(chan result, 1)
	go func() {
		var r result
		defer func() { got <- r }()
		c, err := ln.Accept()
		if err != nil {
			r.err = err
			return
		}
		defer c.Close()
		buf := make([]byte, 256<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if r.bytes == 0 {
					r.first = time.Now()
				}
				r.bytes += int64(n)
				r.last = time.Now()
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					r.err = err
				}
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), d+10*time.Second)
	defer cancel()
	c, err := probe.DialContext(ctx, src, "tcp", netip.AddrPortFrom(dst, 5201).String())
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 256<<10)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return 0, fmt.Errorf("send: %w", err)
		}
	}
	c.(*net.TCPConn).CloseWrite()
	r := <-got
	c.Close()
	if r.err != nil {
		return 0, fmt.Errorf("receive: %w", r.err)
	}
	secs := r.last.Sub(r.first).Seconds()
	if secs <= 0 {
		return 0, fmt.Errorf("received %d bytes in no time", r.bytes)
	}
	return float64(r.bytes) * 8 / secs, nil
}

// rttP50 is the median of n sequential pings from src to dst.
func rttP50(src string, dst netip.Addr, n int) (time.Duration, error) {
	rtts := make([]time.Duration, 0, n)
	for range n {
		r, err := probe.Ping(context.Background(), src, dst, probe.Opts{Timeout: 2 * time.Second})
		if err != nil {
			return 0, err
		}
		rtts = append(rtts, r.RTT)
	}
	slices.Sort(rtts)
	return rtts[n/2], nil
}

// BenchmarkE19Throughput: TCP c1 -> c2 for 2 s through the userspace
// tunnel and over a plain veth, in Gbit/s, and their ratio.
func BenchmarkE19Throughput(b *testing.B) {
	needRoot(b)
	for _, m := range benchMTUs {
		b.Run(m.name, func(b *testing.B) {
			l := e19Bench(b, m)
			d1, d2 := directBench(b, m.container)
			var tun, direct float64
			for range b.N {
				t, err := throughput(l.c1, l.c2, c2IP, 2*time.Second)
				if err != nil {
					b.Fatalf("tunnel: %v", err)
				}
				v, err := throughput(d1, d2, c2IP, 2*time.Second)
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
	needRoot(b)
	m := benchMTUs[0]
	l := e19Bench(b, m)
	d1, _ := directBench(b, m.container)
	var tun, direct time.Duration
	for range b.N {
		t, err := rttP50(l.c1, c2IP, 200)
		if err != nil {
			b.Fatalf("tunnel: %v", err)
		}
		v, err := rttP50(d1, c2IP, 200)
		if err != nil {
			b.Fatalf("veth: %v", err)
		}
		tun += t
		direct += v
	}
	ms := func(d time.Duration) float64 { return d.Seconds() * 1e3 / float64(b.N) }
	b.ReportMetric(ms(tun), "tunnel-p50-ms")
	b.ReportMetric(ms(direct), "veth-p50-ms")
	b.ReportMetric(ms(tun-direct), "added-ms")
}
