package bench_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/gre"
	"github.com/nslab/nslab/netimpl/internal/pathbench"
	"github.com/nslab/nslab/netimpl/macvlan"
	"github.com/nslab/nslab/netns/nstest"
	"github.com/nslab/nslab/netns/probe"
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

// macvlanSpec is `docker network create -d macvlan --subnet
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
		nstest.OpenIn(b, h.ns, func() (gre.Tunnel, error) { return create(cfg) })
		if got := nstest.Link(b, h.ns, "gre1").Attrs().MTU; got != mtu {
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
				bps, err := pathbench.Throughput(src, dst, addr, 2*time.Second)
				if err != nil {
					b.Fatalf("throughput: %v", err)
				}
				rtt, err := pathbench.RTTP50(src, addr, 200)
				if err != nil {
					b.Fatalf("rtt: %v", err)
				}
				r.bps += bps
				r.rtt += rtt
			}
			r.bps /= float64(b.N)
			r.rtt /= time.Duration(b.N)
			b.ReportMetric(r.bps/1e9, "Gbit/s")
			b.ReportMetric(pathbench.Ms(r.rtt), "rtt-p50-ms")
			if p.name == baseline {
				base = &r
				return
			}
			if base != nil {
				b.ReportMetric(r.bps/base.bps, "x-baseline")
				b.ReportMetric(pathbench.Ms(r.rtt-base.rtt), "added-rtt-ms")
			}
		})
	}
}

type result struct {
	bps float64
	rtt time.Duration
}

// warm resolves the path (ARP, routes, the tunnel's first packets) before
// anything is measured.
func warm(b *testing.B, src string, dst netip.Addr) {
	b.Helper()
	if _, err := probe.Ping(context.Background(), src, dst, probe.Opts{Timeout: 5 * time.Second}); err != nil {
		b.Fatal(err)
	}
}
