package bench_test

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
	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/gre"
	"github.com/nslab/nslab/netimpl/macvlan"
	"github.com/nslab/nslab/netimpl/netns"
	"github.com/nslab/nslab/netimpl/netns/nstest"
)

// path is one way from a container to another: build makes it and
// returns the sending container's namespace, the receiving one's, and the
// receiver's address.
type path struct {
	name  string
	build func(b *testing.B) (src, dst string, dstAddr netip.Addr)
}

// baseline is the path the others are compared with.
const baseline = "veth-bridge"

var paths = []path{
	// Two containers on one host's docker0: veth, bridge, veth.
	{baseline, func(b *testing.B) (string, string, netip.Addr) {
		w := newWorld(b, [2]hostSpec{{}, {}})
		src, _ := w.hosts[0].run("c1", "bridge", "")
		dst, a := w.hosts[0].run("c2", "bridge", "")
		return src, dst, a
	}},
	// E18: each host's docker0 on its own subnet, routes via the peer.
	{"routing", func(b *testing.B) (string, string, netip.Addr) {
		w := newWorld(b, [2]hostSpec{{bip: "172.18.0.1/16"}, {bip: "172.17.0.1/16"}})
		w.hosts[0].route("172.17.0.0/16", "192.168.99.102", "eth1")
		w.hosts[1].route("172.18.0.0/16", "192.168.99.101", "eth1")
		src, _ := w.hosts[0].run("c1", "bridge", "")
		dst, a := w.hosts[1].run("c2", "bridge", "")
		return src, dst, a
	}},
	// E17: macvlan children of each host's eth1.
	{"macvlan", func(b *testing.B) (string, string, netip.Addr) {
		w := newWorld(b, [2]hostSpec{{}, {}})
		for _, h := range w.hosts {
			if _, err := h.e.CreateNetwork(macvlanSpec()); err != nil {
				b.Fatal(err)
			}
		}
		src, _ := w.hosts[0].run("c1", "macvlan1", "1.1.1.100")
		dst, a := w.hosts[1].run("c2", "macvlan1", "1.1.1.200")
		return src, dst, a
	}},
	// E19: the userspace gretap joining the docker0s, routes onto
	// docker0, containers with the tunnel's MTU (dockerd --mtu 1462).
	{"gre-userspace", func(b *testing.B) (string, string, netip.Addr) {
		return greWorld(b, gre.CreateUserspace)
	}},
	// The same with the kernel's gretap, where the kernel has one.
	{"gre-kernel", func(b *testing.B) (string, string, netip.Addr) {
		if err := gre.KernelProbe(); err != nil {
			b.Skipf("no kernel gretap: %v", err)
		}
		return greWorld(b, gre.CreateKernel)
	}},
}

// macvlanSpec is seed 002's `docker network create -d macvlan --subnet
// 1.1.1.0/24 --gateway 1.1.1.1 -o parent=eth1 macvlan1`.
func macvlanSpec() netimpl.NetworkSpec {
	return netimpl.NetworkSpec{Name: "macvlan1", Driver: macvlan.Name,
		Options: map[string]string{macvlan.OptParent: "eth1"},
		IPAM:    netimpl.IPAM{Config: []netimpl.IPAMPool{{Subnet: "1.1.1.0/24", Gateway: "1.1.1.1"}}}}
}

// greWorld builds E19 with tunnels made by create, in each host's
// namespace as hostd makes them.
func greWorld(b *testing.B, create func(gre.Config) (gre.Tunnel, error)) (string, string, netip.Addr) {
	b.Helper()
	mtu := 1500 - gre.Overhead(false, false)
	w := newWorld(b, [2]hostSpec{{bip: "172.18.0.1/16", mtu: mtu}, {bip: "172.17.0.1/16", mtu: mtu}})
	w.hosts[0].route("172.17.0.0/16", "", "docker0")
	w.hosts[1].route("172.18.0.0/16", "", "docker0")
	for i, h := range w.hosts {
		cfg := gre.Config{
			Name:   "gre1",
			Local:  netip.MustParseAddr(fmt.Sprintf("192.168.99.%d", 101+i)),
			Remote: netip.MustParseAddr(fmt.Sprintf("192.168.99.%d", 102-i)),
			Bridge: "docker0",
		}
		var t gre.Tunnel
		if err := netns.Do(h.ns, func() (err error) { t, err = create(cfg); return err }); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if err := t.Close(); err != nil {
				b.Error(err)
			}
		})
		if got := mtuOf(b, h.ns, "gre1"); got != mtu {
			b.Fatalf("tunnel mtu %d, want %d", got, mtu)
		}
	}
	src, _ := w.hosts[0].run("c1", "bridge", "")
	dst, a := w.hosts[1].run("c2", "bridge", "")
	return src, dst, a
}

// BenchmarkCrossHost measures each path: TCP throughput from one container
// to the other for 2 s, and the median idle ping round trip of 200, with
// the ratio of the throughput and the round trip added, both against the
// veth-bridge baseline (measured first, in the same run).
//
//	go test -run '^$' -bench CrossHost -benchtime 1x ./netimpl/bench/
func BenchmarkCrossHost(b *testing.B) {
	nstest.NeedRoot(b)
	var base *result
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			src, dst, addr := p.build(b)
			warm(b, src, addr)
			var r result
			for range b.N {
				bps, err := throughput(src, dst, addr, 2*time.Second)
				if err != nil {
					b.Fatalf("throughput: %v", err)
				}
				rtt, err := rttP50(src, addr, 200)
				if err != nil {
					b.Fatalf("rtt: %v", err)
				}
				r.bps += bps
				r.rtt += rtt
			}
			r.bps /= float64(b.N)
			r.rtt /= time.Duration(b.N)
			b.ReportMetric(r.bps/1e9, "Gbit/s")
			b.ReportMetric(ms(r.rtt), "rtt-p50-ms")
			if p.name == baseline {
				base = &r
				return
			}
			if base != nil {
				b.ReportMetric(r.bps/base.bps, "x-baseline")
				b.ReportMetric(ms(r.rtt-base.rtt), "added-rtt-ms")
			}
		})
	}
}

type result struct {
	bps float64
	rtt time.Duration
}

func ms(d time.Duration) float64 { return d.Seconds() * 1e3 }

// warm resolves the path (ARP, routes, the tunnel's first packets) before
// anything is measured.
func warm(b *testing.B, src string, dst netip.Addr) {
	b.Helper()
	if _, err := probe.Ping(context.Background(), src, dst, probe.Opts{Timeout: 5 * time.Second}); err != nil {
		b.Fatal(err)
	}
}

// throughput sends TCP from the namespace src to dst:5201, served in the
// namespace dstNS, for d and returns what the receiver counted, in bit/s,
// from its first byte to its last.
func throughput(src, dstNS string, dst netip.Addr, d time.Duration) (float64, error) {
	addr := netip.AddrPortFrom(dst, 5201).String()
	ln, err := probe.ListenTCP(dstNS, addr)
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	type count struct {
		bytes       int64
		first, last time.Time
		err         error
	}
	got := make(chan count, 1)
	go func() {
		var r count
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
	c, err := probe.DialContext(ctx, src, "tcp", addr)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 256<<10)
	for end := time.Now().Add(d); time.Now().Before(end); {
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
