package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/nslab/nslab/netns/nstest"
)

// The network every container of the benchmark joins.
const benchNet = "benchnet"

// runOne is `docker run -d --network benchnet alpine sleep 1000` as the CLI
// sends it: create, then start.
func runOne(ctx context.Context, cli *client.Client, name string) error {
	cc, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       name,
		Config:     &container.Config{Image: "alpine", Cmd: []string{"sleep", "1000"}},
		HostConfig: &container.HostConfig{NetworkMode: benchNet},
	})
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if _, err := cli.ContainerStart(ctx, cc.ID, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	return nil
}

// measure creates and starts n containers one after another, b.N times,
// removing them between rounds outside the timer; it returns the rate.
func measure(b *testing.B, d *daemon, n int) float64 {
	b.Helper()
	return measureParallel(b, d, n, 1)
}

// measureParallel is measure with the n containers shared among clients
// that run side by side, as `docker compose up` starts services.
func measureParallel(b *testing.B, d *daemon, n, clients int) float64 {
	b.Helper()
	ctx := context.Background()
	if _, err := d.cli.NetworkCreate(ctx, benchNet, client.NetworkCreateOptions{Driver: "bridge"}); err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for round := 0; round < b.N; round++ {
		settle(b)
		start := time.Now()
		errs := make(chan error, clients)
		for w := 0; w < clients; w++ {
			go func() {
				for i := w; i < n; i += clients {
					if err := runOne(ctx, d.cli, fmt.Sprintf("r%dc%d", round, i)); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for w := 0; w < clients; w++ {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		took := time.Since(start)
		total += took
		b.Logf("round %d: %d containers in %v (%.0f/s)", round, n, took.Round(time.Millisecond), float64(n)/took.Seconds())
		b.StopTimer()
		if err := removeAll(d.cli); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	if _, err := d.cli.NetworkRemove(ctx, benchNet, client.NetworkRemoveOptions{}); err != nil {
		b.Fatal(err)
	}
	return float64(n*b.N) / total.Seconds()
}

// settle waits, outside the timer, until the kernel has freed the network
// namespaces of the rounds before (nstest.Settle).
func settle(b *testing.B) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	nstest.Settle(b)
}

// measureHostd measures n containers from clients on a hostd of their
// own and reports the rate and the CPU hostd and its children spent per
// container, from hostd's start to its exit (the containers' removal
// included): on two CPUs, 300 containers per second leave 6.6 ms each.
func measureHostd(b *testing.B, n, clients int) float64 {
	d := startHostd(b)
	stopped := false
	defer func() {
		if !stopped { // measureParallel failed
			d.stop()
		}
	}()
	b.ResetTimer()
	rate := measureParallel(b, d, n, clients)
	b.StopTimer()
	stopped = true
	if err := d.stop(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rate, "containers/s")
	b.ReportMetric(float64(d.cpu)/float64(time.Millisecond)/float64(n*b.N), "cpu-ms/container")
	b.ReportMetric(0, "ns/op")
	return rate
}

// BenchmarkRunOnBridge: containers created and started per second on one
// user-defined bridge through the Docker API, sequentially as `docker run
// -d` would, against hostd for 10, 100 and 500 containers; the same
// containers made with no daemon at all (containerFloor: the kernel's
// work, with hostd's overlaps), reporting hostd's rate over that floor;
// then against a real dockerd when one is installed (10 containers: it
// manages about 1.5 per second), reporting both rates and hostd's rate
// over Docker's.
func BenchmarkRunOnBridge(b *testing.B) {
	needRoot(b)
	hostdRate := map[int]float64{}
	for _, n := range []int{10, 100, 500} {
		b.Run(fmt.Sprintf("hostd-%d", n), func(b *testing.B) {
			hostdRate[n] = measureHostd(b, n, 1)
		})
	}
	// The kernel's work for the same containers with no daemon around
	// it (containerFloor), in the same run: hostd's rate over it.
	for _, n := range []int{10, 100, 500} {
		b.Run(fmt.Sprintf("floor-%d", n), func(b *testing.B) {
			needRoot(b)
			rate := containerFloor(b, n)
			b.ReportMetric(rate, "containers/s")
			if h, ok := hostdRate[n]; ok {
				b.ReportMetric(h/rate, "hostd/floor")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
	// The same 500 from four clients at once: creates overlap in hostd.
	b.Run("hostd-500-4clients", func(b *testing.B) {
		measureHostd(b, 500, 4)
	})
	b.Run("dockerd-10", func(b *testing.B) {
		path := dockerdPath()
		if path == "" {
			b.Skip("dockerd is not installed (Debian's docker.io 20.10 provides it): no reference rate")
		}
		d := startDockerd(b, path)
		defer func() {
			if err := d.stop(); err != nil {
				b.Error(err)
			}
		}()
		b.ResetTimer()
		rate := measure(b, d, 10)
		b.StopTimer()
		b.ReportMetric(rate, "containers/s")
		b.ReportMetric(0, "ns/op")
		// Side by side: hostd's rate for the same 10 containers (measured
		// above, or now when only this part runs), and its slowest rate
		// of all sizes.
		same, ok := hostdRate[10]
		if !ok {
			h := startHostd(b)
			same = measure(b, h, 10)
			if err := h.stop(); err != nil {
				b.Error(err)
			}
			hostdRate[10] = same
		}
		slowest := same
		for _, r := range hostdRate {
			slowest = min(slowest, r)
		}
		b.ReportMetric(same, "hostd-10-containers/s")
		b.ReportMetric(same/rate, "hostd10/dockerd10")
		b.ReportMetric(slowest/rate, "hostd-slowest/dockerd")
	})
}
