package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/probe"
)

// BenchmarkBigLab brings up a large lab, checks all pairs of 50 of its
// hosts (spread over the lab) with the probe matrix, takes it down and
// checks that nothing of it is left: no namespace pin, no mount, no state
// directory, no daemon. Two labs: 1,100 plain hosts on three segments
// joined by a router (one segment of 1,100 would be refused here: see
// lab's fitsMachine), and 300 docker hosts (hostd, no container) on one:
//
//	go test -run '^$' -bench BigLab -benchtime 1x -timeout 30m ./bench/
func BenchmarkBigLab(b *testing.B) {
	needRoot(b)
	for _, c := range []struct {
		name string
		topo *lab.Topology
	}{{"plain=1100", routedTopology(1100, 3)}, {"docker=300", segmentTopology(lab.KindDocker, 300)}} {
		b.Run(c.name, func(b *testing.B) {
			var up, matrix, down time.Duration
			for i := 0; i < b.N; i++ {
				settle(b)
				u, m, d := bigLab(b, c.topo, 50)
				up, matrix, down = up+u, matrix+m, down+d
			}
			s := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
			b.ReportMetric(s(up), "up-s")
			b.ReportMetric(s(matrix), "matrix-s")
			b.ReportMetric(s(down), "down-s")
			b.ReportMetric(s(up+down)*1000/float64(len(c.topo.Hosts)), "ms/host")
		})
	}
}

// routedTopology is n plain hosts on k segments (10.1.0.0/16, 10.2.0.0/16,
// ...) and a router r with an interface on each at .255.254, every host's
// default route.
func routedTopology(n, k int) *lab.Topology {
	t := &lab.Topology{}
	router := lab.HostSpec{Name: "r", Kind: lab.KindPlain, Forwarding: true}
	for s := 1; s <= k; s++ {
		name := fmt.Sprintf("lan%d", s)
		t.Segments = append(t.Segments, lab.Segment{Name: name, Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(s), 0, 0}), 16)})
		router.Interfaces = append(router.Interfaces, lab.InterfaceSpec{Segment: name,
			Address: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(s), 255, 254}), 16)})
	}
	for i := 0; i < n; i++ {
		s, j := i%k+1, i/k
		t.Hosts = append(t.Hosts, lab.HostSpec{
			Name: fmt.Sprintf("h%d", i+1), Kind: lab.KindPlain,
			Interfaces: []lab.InterfaceSpec{{Segment: fmt.Sprintf("lan%d", s),
				Address: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(s), byte(j / 250), byte(j%250 + 1)}), 16)}},
			Routes: []lab.RouteSpec{{To: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.AddrFrom4([4]byte{10, byte(s), 255, 254})}},
		})
	}
	t.Hosts = append(t.Hosts, router)
	return t
}

// bigLab runs one round of BenchmarkBigLab: up, the matrix between n hosts
// chosen evenly over the lab, down, and the check for leftovers.
func bigLab(b *testing.B, topo *lab.Topology, n int) (up, matrix, down time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	l, up := upLab(ctx, b, topo)
	var eps []probe.Endpoint
	hosts := l.Hosts()
	for k := 0; k < n; k++ {
		h := hosts[k*len(hosts)/n]
		eps = append(eps, probe.Endpoint{Name: h.Name, NS: h.NetNS(), Addr: h.Spec.Interfaces[0].Address.Addr()})
	}
	got := allPairs(ctx, b, eps)
	var pids []int
	for _, h := range hosts {
		if pid := h.HostdPID(); pid > 0 {
			pids = append(pids, pid)
		}
	}
	id, dir := l.ID(), l.StateDir()
	down = downLab(ctx, b, l)
	requireNothingLeft(b, id, dir, pids)
	return up, got.Elapsed, down
}

// requireNothingLeft fails when anything of lab id is left: a namespace
// pin or its mount, the state directory, a daemon.
func requireNothingLeft(b *testing.B, id, dir string, pids []int) {
	b.Helper()
	if pins, _ := filepath.Glob(netns.Path(id + "-*")); len(pins) > 0 {
		b.Errorf("lab %s: %d pins left, first %s", id, len(pins), pins[0])
	}
	if mounts, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(mounts), netns.Path(id+"-")) {
		b.Errorf("lab %s: mounts left under %s", id, netns.Path(id+"-"))
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		b.Errorf("lab %s: state directory %s left (%v)", id, dir, err)
	}
	for _, pid := range pids {
		// A pid reused since is some other process, whose command line
		// does not name the lab's state directory.
		if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && strings.Contains(string(cmd), dir) {
			b.Errorf("lab %s: hostd %d still runs", id, pid)
		}
	}
}
