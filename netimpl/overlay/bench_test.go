package overlay_test

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/nslab/nslab/netns/nstest"
	"github.com/nslab/nslab/netns/probe"
)

// BenchmarkOverlayJoin is the time from a container's start on node1 (its
// namespace made and joined to the overlay network) until node2's
// container gets its first echo reply from it, node2 having been told of
// it as its store watch would tell it (AddPeer). "warm": node1 already has
// a container on the network, so its namespace exists; "first": every
// container is node1's only one, so each join also builds the network's
// namespace with br0 and vxlan0. Reported: p50 and p99 in ms per container.
func BenchmarkOverlayJoin(b *testing.B) {
	for _, warm := range []bool{true, false} {
		name := "first"
		if warm {
			name = "warm"
		}
		b.Run(name, func(b *testing.B) {
			h1, h2 := newHosts(b)
			n1, n2 := h1.network("ov_net1", "10.0.0.0/24", 256), h2.network("ov_net1", "10.0.0.0/24", 256)
			far := h2.run("far", n2, "10.0.0.3")
			if warm {
				resident := h1.run("resident", n1, "10.0.0.4")
				h2.addPeer(n2.ID, resident)
				defer resident.stop()
			}
			defer far.stop()
			h1.addPeer(n1.ID, far)
			ctx := context.Background()
			var took []time.Duration
			i := 0
			for b.Loop() {
				i++
				start := time.Now()
				c := h1.run(fmt.Sprintf("c%d", i), n1, "10.0.0.10")
				h2.addPeer(n2.ID, c)
				if _, err := probe.Ping(ctx, far.sb.Key, c.ip(), probe.Opts{Interval: time.Millisecond, Timeout: 5 * time.Second}); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
				b.StopTimer()
				if err := h2.drv.RemovePeer(n2.ID, c.peer()); err != nil {
					b.Fatal(err)
				}
				c.stop()
				b.StartTimer()
			}
			slices.Sort(took)
			b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
			b.ReportMetric(ms(took[(len(took)*99)/100]), "p99-ms")
		})
	}
}

// BenchmarkOverlayTCP sends 64 MiB over one TCP connection from node1's
// container to node2's across VXLAN, and the same over a plain veth pair
// between two namespaces, and reports both rates and their ratio.
func BenchmarkOverlayTCP(b *testing.B) {
	const size = 64 << 20
	h1, h2 := newHosts(b)
	n1, n2 := h1.network("ov_net1", "10.0.0.0/24", 256), h2.network("ov_net1", "10.0.0.0/24", 256)
	c1, c2 := h1.run("c1", n1, "10.0.0.2"), h2.run("c2", n2, "10.0.0.3")
	defer c1.stop()
	defer c2.stop()
	h1.addPeer(n1.ID, c2)
	h2.addPeer(n2.ID, c1)
	v1, v2 := nstest.Segment(b, prefix,
		nstest.End{Role: "veth1", Link: "eth0", CIDRs: []string{"10.9.0.1/24"}},
		nstest.End{Role: "veth2", Link: "eth0", CIDRs: []string{"10.9.0.2/24"}})

	var vx, ve time.Duration
	for b.Loop() {
		vx += transfer(b, c1.sb.Key, c2.sb.Key, netip.MustParseAddrPort("10.0.0.3:5001"), size)
		ve += transfer(b, v1, v2, netip.MustParseAddrPort("10.9.0.2:5001"), size)
	}
	vxRate := float64(size*b.N) / vx.Seconds() / 1e6
	veRate := float64(size*b.N) / ve.Seconds() / 1e6
	b.ReportMetric(vxRate, "vxlan-MB/s")
	b.ReportMetric(veRate, "veth-MB/s")
	b.ReportMetric(vxRate/veRate, "vxlan/veth")
}

// transfer sends size bytes from a socket in ns src to a listener in ns
// dst and returns the time until the receiver had them all.
func transfer(b *testing.B, src, dst string, to netip.AddrPort, size int64) time.Duration {
	b.Helper()
	ln, err := probe.ListenTCP(dst, to.String())
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	got := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err
			return
		}
		defer c.Close()
		n, err := io.Copy(io.Discard, c)
		if err == nil && n != size {
			err = fmt.Errorf("received %d bytes of %d", n, size)
		}
		got <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	c, err := probe.DialContext(ctx, src, "tcp", to.String())
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for sent := int64(0); sent < size; sent += int64(len(buf)) {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	if err := <-got; err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
