package bench

import (
	"testing"
	"time"
)

// BenchmarkHostdStart measures hostd alone, started as the lab starts it
// (in a fresh network namespace and a new UTS namespace): from its exec
// until it says its socket listens (start-ms), from SIGTERM until it
// exited (stop-ms), and the CPU time hostd and the children it waited for
// (the iptables tools) spent from exec to exit (cpu-ms). The README's
// "Where the time goes" says what those milliseconds are spent on:
//
//	go test -run '^$' -bench HostdStart -benchtime 20x ./bench/
func BenchmarkHostdStart(b *testing.B) {
	needRoot(b)
	var start, stop, cpu time.Duration
	for i := 0; i < b.N; i++ {
		settle(b)
		d := startHostd(b)
		start += d.startedIn
		t0 := time.Now()
		if err := d.stop(); err != nil {
			b.Fatal(err)
		}
		stop += time.Since(t0)
		cpu += d.cpu
	}
	b.ReportMetric(float64(start.Microseconds())/1000/float64(b.N), "start-ms")
	b.ReportMetric(float64(stop.Microseconds())/1000/float64(b.N), "stop-ms")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms")
}
