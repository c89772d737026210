package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns"
)

// BenchmarkUpFloor is lab's BenchmarkUp (docker hosts on one segment, ten
// containers of the none network each) beside the floor of the same work,
// in turns, each round one of each:
//   - hostd: Up and Down of N docker hosts, each hostd starting its ten
//     containers, as BenchmarkUp does (./lab/);
//   - floor: the same N hosts brought up plain (no hostd), their 10 N
//     containers made with no daemon (containerFloor's way, none network:
//     a network namespace, the container's files, the root filesystem,
//     `sleep` as PID 1) from several goroutines (floorWorkers), then
//     killed, and the lab taken down.
//
// The floor leaves out what a docker host holds besides its containers
// (hostd's start, docker0, its firewall), and its containers' mount
// namespaces are copies of one template, not of each host's: it is below
// what any daemon could reach. It reports both means and floor/hostd.
func BenchmarkUpFloor(b *testing.B) {
	needRoot(b)
	const perHost = 10
	defaultLayers(b) // the machine's image store holds the default image
	for _, n := range []int{20, 100} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			docker := dockerHosts(n, perHost)
			floor := newFloorLab(b, n, perHost)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			var hostd, bare time.Duration
			for i := 0; i < b.N; i++ {
				hostd += timeRound(b, func() { upDown(b, docker) })
				bare += timeRound(b, func() {
					if err := floor.upDown(ctx, b); err != nil {
						b.Fatal(err)
					}
				})
			}
			ms := func(d time.Duration) float64 { return float64(d.Milliseconds()) / float64(b.N) }
			b.ReportMetric(ms(hostd), "hostd-ms")
			b.ReportMetric(ms(bare), "floor-ms")
			b.ReportMetric(bare.Seconds()/hostd.Seconds(), "floor/hostd")
			b.ReportMetric(ms(floor.starts), "floor-starts-ms")
			b.ReportMetric(ms(floor.stops), "floor-stops-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// dockerHosts is n docker hosts on one segment with perHost containers of
// the none network each, as BenchmarkUp's.
func dockerHosts(n, perHost int) *lab.Topology {
	topo := segmentTopology(lab.KindDocker, n)
	for i := range topo.Hosts {
		for c := 0; c < perHost; c++ {
			topo.Hosts[i].Containers = append(topo.Hosts[i].Containers, lab.ContainerSpec{
				Name: fmt.Sprintf("c%d", c), Image: "alpine", Network: "none", Command: []string{"sleep", "1000"},
			})
		}
	}
	return topo
}

// timeRound runs round from a settled machine and returns how long it
// took.
func timeRound(b *testing.B, round func()) time.Duration {
	b.Helper()
	settle(b)
	t0 := time.Now()
	round()
	return time.Since(t0)
}

// floorLab is BenchmarkUpFloor's floor: plain hosts, and containers with
// no daemon. starts and stops add up the time of its containers' starts
// and of their stops.
type floorLab struct {
	topo          *lab.Topology
	ctrs          *ctrFloorHost
	perHost       int
	rounds        int
	starts, stops time.Duration
}

func newFloorLab(b *testing.B, n, perHost int) *floorLab {
	ctrs := newCtrFloorHost(b)
	ctrs.none = true
	return &floorLab{topo: segmentTopology(lab.KindPlain, n), ctrs: ctrs, perHost: perHost}
}

func (f *floorLab) upDown(ctx context.Context, b *testing.B) error {
	l, err := lab.Up(ctx, f.topo, lab.Options{Root: b.TempDir()})
	if err != nil {
		return err
	}
	n := len(f.topo.Hosts) * f.perHost
	t0 := time.Now()
	cs, err := f.ctrs.startAll(f.rounds*n, n)
	f.starts += time.Since(t0)
	f.rounds++
	if err == nil {
		err = cs[n-1].check(true)
	}
	t1 := time.Now()
	stopAll(cs)
	f.stops += time.Since(t1)
	if derr := l.Down(ctx); err == nil {
		err = derr
	}
	return err
}

// startAll starts containers first..first+n-1 from floorWorkers
// goroutines, each making its container's network namespace; on a
// failure it stops those started and returns the error.
func (h *ctrFloorHost) startAll(first, n int) ([]*ctrFloorContainer, error) {
	cs := make([]*ctrFloorContainer, n)
	errs := make([]error, n)
	onWorkers(n, func(i int) {
		ns, err := netns.NewFresh(netns.DisableIPv6)
		if err == nil {
			cs[i], err = h.start(first+i, ns)
		}
		errs[i] = err
	})
	if err := errors.Join(errs...); err != nil {
		stopAll(cs)
		return nil, err
	}
	return cs, nil
}

// stopAll stops the containers started, from floorWorkers goroutines.
func stopAll(cs []*ctrFloorContainer) {
	onWorkers(len(cs), func(i int) {
		if cs[i] != nil {
			cs[i].stop()
		}
	})
}

// onWorkers calls fn for 0..n-1 from floorWorkers goroutines, and returns
// when every call has.
func onWorkers(n int, fn func(i int)) {
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range floorWorkers() {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// floorWorkers is how many goroutines start (and stop) the floor's
// containers: four a CPU, so that one's waits (its thread, the fork, the
// exec) overlap another's work. On this machine's two CPUs 8 did the
// 1,000 starts in 2.6-2.9 s, 2 in 3.3 s, 16 and 32 no better than 8.
func floorWorkers() int { return 4 * runtime.NumCPU() }
