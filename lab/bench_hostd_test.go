package lab

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// realHostd finds nslab-hostd as Up does when $NSLAB_HOSTD_BIN or
// $NSLAB_BIN is set (make bench), else builds cmd/nslab-hostd once per test
// binary, so benchmarks run the real hostd rather than the stand-in the
// other lab tests use.
func realHostd(b testing.TB) string {
	b.Helper()
	if os.Getenv("NSLAB_HOSTD_BIN") != "" || os.Getenv("NSLAB_BIN") != "" {
		p, err := FindHostd("")
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	return hostdTestProgram.Path(b, HostdBinaryName)
}

// dockerTopology is n docker hosts on one segment, each with perHost
// containers in none mode.
func dockerTopology(n, perHost int) *Topology {
	topo := plainTopology(n)
	for i := range topo.Hosts {
		topo.Hosts[i].Kind = KindDocker
		for c := 0; c < perHost; c++ {
			topo.Hosts[i].Containers = append(topo.Hosts[i].Containers, ContainerSpec{
				Name: fmt.Sprintf("c%d", c), Image: "alpine", Network: "none",
				Command: []string{"sleep", "infinity"},
			})
		}
	}
	return topo
}

// BenchmarkUpDocker measures Up + Down of n docker hosts on one segment,
// each running hostd and no container, reported per host.
func BenchmarkUpDocker(b *testing.B) {
	requireRoot(b)
	bin := realHostd(b)
	for _, n := range benchHosts {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			benchUpDown(b, dockerTopology(n, 0), Options{Root: b.TempDir(), Hostd: bin}, nil)
		})
	}
}

// BenchmarkUpDockerOnDemand is BenchmarkUpDocker with Options.OnDemand:
// the docker hosts' daemons start at their first use. "unused" takes the
// lab down without using it; "used" then also asks every host's socket for
// /_ping between up and down, which starts its hostd, and reports that
// first use per host (use-ns/host, wall-clock, every host at once as the
// daemons are at up) beside up and down.
//
//	go test -run '^$' -bench UpDockerOnDemand -benchtime 10x ./lab/
func BenchmarkUpDockerOnDemand(b *testing.B) {
	requireRoot(b)
	bin := realHostd(b)
	for _, used := range []bool{false, true} {
		for _, n := range benchHosts {
			name := fmt.Sprintf("unused/hosts=%d", n)
			if used {
				name = fmt.Sprintf("used/hosts=%d", n)
			}
			b.Run(name, func(b *testing.B) {
				var use time.Duration
				var atPeak func(*Lab)
				if used {
					atPeak = func(l *Lab) { use += useEveryHost(b, l) }
				}
				benchUpDown(b, dockerTopology(n, 0), Options{Root: b.TempDir(), Hostd: bin, OnDemand: true}, atPeak)
				if used {
					b.ReportMetric(float64(use.Nanoseconds())/float64(b.N)/float64(n), "use-ns/host")
				}
			})
		}
	}
}

// useEveryHost pings every docker host's daemon, all at once as up starts
// them, and returns how long that took.
func useEveryHost(b *testing.B, l *Lab) time.Duration {
	t0 := time.Now()
	err := forEach(context.Background(), l.dockerHosts(), runtime.NumCPU()*4, func(_ context.Context, h *Host) error { return h.pingSocket() })
	if err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}

// BenchmarkUp measures Up + Down of n docker hosts on one segment, each
// running hostd with ten containers in none mode, reported per host and per
// container, with the memory the lab and its daemons hold at their peak.
func BenchmarkUp(b *testing.B) {
	requireRoot(b)
	bin := realHostd(b)
	const perHost = 10
	for _, n := range []int{2, 20, 100} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			var hostdMax, hostdSum, anonMax, pssMax float64
			// The lab is at its largest when Up returns: every hostd and
			// container is up.
			atPeak := func(l *Lab) {
				sum := 0.0
				for _, h := range l.Hosts() {
					kb := statusKB(h.HostdPID(), "VmRSS")
					sum += kb
					hostdMax = math.Max(hostdMax, kb)
					// RSS counts the binary's pages, which every hostd
					// shares; RssAnon is a hostd's own memory, Pss its
					// share of the whole.
					anonMax = math.Max(anonMax, statusKB(h.HostdPID(), "RssAnon"))
					pssMax = math.Max(pssMax, procKB(h.HostdPID(), "smaps_rollup", "Pss"))
				}
				hostdSum += sum
			}
			up, down := benchUpDown(b, dockerTopology(n, perHost), Options{Root: b.TempDir(), Hostd: bin}, atPeak)
			b.ReportMetric(float64((up+down).Nanoseconds())/float64(n*perHost), "ns/container")
			b.ReportMetric(float64(up.Milliseconds()), "up-ms")
			b.ReportMetric(float64(down.Milliseconds()), "down-ms")
			b.ReportMetric(hostdMax/1024, "hostd-max-RSS-MiB")
			b.ReportMetric(hostdSum/float64(b.N)/1024, "hostds-RSS-MiB")
			b.ReportMetric(anonMax/1024, "hostd-max-RssAnon-MiB")
			b.ReportMetric(pssMax/1024, "hostd-max-PSS-MiB")
			b.ReportMetric(statusKB(os.Getpid(), "VmHWM")/1024, "lab-peak-RSS-MiB")
		})
	}
}

// statusKB reads one "kB" field of /proc/PID/status; 0 if it cannot.
func statusKB(pid int, field string) float64 { return procKB(pid, "status", field) }

// procKB reads one "kB" field of /proc/PID/FILE (status, smaps_rollup); 0
// if it cannot.
func procKB(pid int, file, field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return v
		}
	}
	return 0
}
