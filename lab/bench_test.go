package lab

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkUpPlain measures Up followed by Down of n plain hosts on one
// segment, reported per host.
func BenchmarkUpPlain(b *testing.B) {
	requireRoot(b)
	for _, n := range []int{2, 20, 100} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			topo := plainTopology(n)
			root := b.TempDir()
			ctx := context.Background()
			var up time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				l, err := Up(ctx, topo, Options{Root: root})
				if err != nil {
					b.Fatal(err)
				}
				up += time.Since(t0)
				if err := l.Down(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			total := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(total/float64(n), "ns/host")
			b.ReportMetric(float64(up.Nanoseconds())/float64(b.N)/float64(n), "up-ns/host")
		})
	}
}
