package lab

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostd/image"
	"github.com/nslab/nslab/netns/nstest"
)

// benchHosts are the lab sizes of the Up benchmarks: a host must cost the
// same in a lab of 300 as in a lab of 2.
var benchHosts = []int{2, 20, 100, 300}

// BenchmarkUpPlain measures Up followed by Down of n plain hosts on one
// segment, reported per host.
func BenchmarkUpPlain(b *testing.B) {
	requireRoot(b)
	for _, n := range benchHosts {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			benchUpDown(b, plainTopology(n), Options{Root: b.TempDir()}, nil)
		})
	}
}

// benchUpDown brings topo up and down b.N times and reports the time per
// host: up, down and both (ns/host), and the CPU time the lab's process
// spent on it (cpu-ns/host: user and system, every thread), which a busy
// machine disturbs less than the wall clock. Unpinning a namespace returns at once
// and the kernel destroys it afterwards; between rounds, outside the timer,
// the benchmark waits until it has (nstest.Settle), so that one round does
// not pay for the last. atPeak, if set, runs untimed while the lab is up.
func benchUpDown(b *testing.B, topo *Topology, o Options, atPeak func(*Lab)) (up, down time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	n := len(topo.Hosts)
	var total, cpu time.Duration
	if topo.hasDocker() {
		warmImageStore(b)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		nstest.Settle(b)
		b.StartTimer()
		c0 := cpuTime()
		t0 := time.Now()
		l, err := Up(ctx, topo, o)
		if err != nil {
			b.Fatal(err)
		}
		up += time.Since(t0)
		cpu += cpuTime() - c0
		if atPeak != nil {
			b.StopTimer()
			atPeak(l)
			b.StartTimer()
		}
		c0 = cpuTime()
		t1 := time.Now()
		if err := l.Down(ctx); err != nil {
			b.Fatal(err)
		}
		down += time.Since(t1)
		cpu += cpuTime() - c0
	}
	b.StopTimer()
	total = up + down
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) / float64(n) }
	b.ReportMetric(per(total), "ns/host")
	b.ReportMetric(per(up), "up-ns/host")
	b.ReportMetric(per(down), "down-ns/host")
	b.ReportMetric(per(cpu), "cpu-ns/host")
	// The default ns/op also holds the untimed settling; the per-host
	// figures are what this measures.
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/op")
	return up / time.Duration(b.N), down / time.Duration(b.N)
}

// cpuTime is the user and system time this process has used so far.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWhereTheTimeGoes brings up and takes down 100 plain hosts and
// 100 docker hosts (hostd, no containers) and logs each step of Up and
// Down: the stages' wall-clock time, and the steps every host takes summed
// over hosts. With the default parallelism the workers wait for each other
// in the kernel (its rtnl lock is one for the whole machine), so the sum
// over hosts says little about cost; the serial run (parallel=1) does:
//
//	go test -run '^$' -bench WhereTheTimeGoes -benchtime 3x -v ./lab/
func BenchmarkWhereTheTimeGoes(b *testing.B) {
	requireRoot(b)
	const n = 100
	for _, c := range []struct {
		kind     string
		parallel int
	}{{KindPlain, 1}, {KindPlain, 0}, {KindDocker, 0}} {
		b.Run(fmt.Sprintf("%s/hosts=%d/parallel=%d", c.kind, n, c.parallel), func(b *testing.B) {
			topo := plainTopology(n)
			o := Options{Root: b.TempDir(), Parallel: c.parallel, timings: newTimings()}
			if c.kind == KindDocker {
				o.Hostd = realHostd(b)
				for i := range topo.Hosts {
					topo.Hosts[i].Kind = KindDocker
				}
			}
			benchUpDown(b, topo, o, nil)
			var lines []string
			for _, s := range o.timings.steps() {
				per := float64(s.Total.Microseconds()) / float64(b.N)
				line := fmt.Sprintf("%-38s %9.1f ms", s.Name, per/1000)
				if s.Count/b.N == n {
					line += fmt.Sprintf("  %7.1f µs/host", per/n)
				}
				lines = append(lines, line)
			}
			b.Logf("per run (mean of %d):\n%s", b.N, strings.Join(lines, "\n"))
		})
	}
}

// warmImageStore puts the default image into the run's image store, as a
// machine's first up does once (the test binary's store is new: see
// imagetest): a benchmark of up measures what every up costs, not the
// unpacking of busybox's layer.
func warmImageStore(b *testing.B) {
	b.Helper()
	store, release, err := image.OpenShared(image.StoreDir())
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	if _, err := store.EnsureDefault(image.DefaultSource{}); err != nil {
		b.Fatal(err)
	}
}
