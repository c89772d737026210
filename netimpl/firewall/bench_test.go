package firewall

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkPublish publishes 100 ports on one network and removes them
// again, per backend, in one namespace. ports/s counts a port published and
// removed as one; the add and remove phases are reported apart too.
func BenchmarkPublish(b *testing.B) {
	needRoot(b)
	for _, kind := range []string{KindIPTables, KindNFTables} {
		b.Run(kind, func(b *testing.B) {
			ns, _ := newNS(b, "bench-"+kind[:3])
			fw := newBackend(b, kind, ns)
			must(b, fw.Setup())
			must(b, fw.AddNetwork(br1))
			b.Cleanup(func() { fw.Teardown() })
			const n = 100
			ports := make([]Port, n)
			for i := range ports {
				ports[i] = Port{Bridge: br1.Bridge, Proto: "tcp", HostPort: uint16(20000 + i),
					ContainerIP: netip.AddrFrom4([4]byte{172, 18, byte(i / 250), byte(2 + i%250)}), ContainerPort: 80}
			}
			var add, remove time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				for _, p := range ports {
					if err := fw.AddPort(p); err != nil {
						b.Fatal(err)
					}
				}
				mid := time.Now()
				for _, p := range ports {
					if err := fw.RemovePort(p); err != nil {
						b.Fatal(err)
					}
				}
				add, remove = add+mid.Sub(start), remove+time.Since(mid)
			}
			b.StopTimer()
			total := add + remove
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "ports/s")
			b.ReportMetric(float64(add.Milliseconds())/float64(b.N), "ms/100add")
			b.ReportMetric(float64(remove.Milliseconds())/float64(b.N), "ms/100remove")
			b.Logf("%s: %d ports published and removed in %s (add %s, remove %s)", kind, n*b.N, total.Round(time.Millisecond),
				add.Round(time.Millisecond), remove.Round(time.Millisecond))
		})
	}
}
