package bench

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/probe"
)

// mininetScript is the Mininet side of the comparison: N hosts on one
// Linux bridge, no controller, timed inside Python.
//
//go:embed mininet_side.py
var mininetScript []byte

// mininetHosts is the size of the compared topology: one segment, 50 hosts
// with addresses.
const mininetHosts = 50

// mininetTimes is what mininet_side.py prints: seconds.
type mininetTimes struct {
	Up      float64  `json:"up"`
	ARP     float64  `json:"arp"`
	PingAll *float64 `json:"pingall"`
	Loss    *float64 `json:"loss"`
	Down    float64  `json:"down"`
}

// runMininet runs mininet_side.py for n hosts in a network, PID and mount
// namespace of its own (unshare), never in the machine's: Mininet puts its
// switch, and the switch's end of every host's veth, in the namespace it
// runs in, and a link command of its without a node names pid 1's
// namespace, which is then this one's. Its hosts die with the PID
// namespace when Python exits.
func runMininet(b *testing.B, n int, pingall bool) mininetTimes {
	b.Helper()
	script := filepath.Join(b.TempDir(), "mininet_side.py")
	if err := os.WriteFile(script, mininetScript, 0o644); err != nil {
		b.Fatal(err)
	}
	mode := "up"
	if pingall {
		mode = "pingall"
	}
	cmd := exec.Command("unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child",
		"--", mininetPython, script, fmt.Sprint(n), mode)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		b.Fatalf("mininet: %v\n%s%s", err, out, stderr)
	}
	var t mininetTimes
	if err := json.Unmarshal(out, &t); err != nil {
		b.Fatalf("mininet printed %q: %v", out, err)
	}
	return t
}

// mininetPython is Debian's python3, which has Mininet's package.
const mininetPython = "/usr/bin/python3"

// needMininet skips when Debian's mininet is not installed.
func needMininet(b *testing.B) {
	b.Helper()
	needRoot(b)
	if _, err := exec.LookPath("mnexec"); err != nil {
		b.Skip("needs Mininet 2.3 (Debian's mininet package): mnexec not found")
	}
	if err := exec.Command(mininetPython, "-c", "import mininet.net").Run(); err != nil {
		b.Skipf("needs Mininet 2.3 (Debian's mininet package): %s cannot import mininet: %v", mininetPython, err)
	}
	if _, err := exec.LookPath("brctl"); err != nil {
		b.Skip("needs bridge-utils (brctl) for Mininet's Linux bridge")
	}
}

// segmentTopology is n hosts of kind on one segment, as Mininet's single
// switch topology addresses them: h1..hn at 10.0.0.1/8 upward.
func segmentTopology(kind string, n int) *lab.Topology {
	t := &lab.Topology{Segments: []lab.Segment{{Name: "s1", Prefix: netip.MustParsePrefix("10.0.0.0/8")}}}
	for i := 1; i <= n; i++ {
		t.Hosts = append(t.Hosts, lab.HostSpec{
			Name: fmt.Sprintf("h%d", i), Kind: kind,
			Interfaces: []lab.InterfaceSpec{{Segment: "s1", Address: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 8)}},
		})
	}
	return t
}

// upLab brings topo up with nslab (hostd as the benchmarks find it) and
// returns the lab and how long Up took. The lab goes down when the
// benchmark ends if the caller has not taken it down (a failed round).
func upLab(ctx context.Context, b *testing.B, topo *lab.Topology) (*lab.Lab, time.Duration) {
	b.Helper()
	t0 := time.Now()
	l, err := lab.Up(ctx, topo, lab.Options{Root: b.TempDir(), Hostd: hostdBin})
	if err != nil {
		b.Fatal(err)
	}
	up := time.Since(t0)
	b.Cleanup(func() { l.Down(context.Background()) })
	return l, up
}

// downLab takes l down and returns how long it took.
func downLab(ctx context.Context, b *testing.B, l *lab.Lab) time.Duration {
	b.Helper()
	t0 := time.Now()
	if err := l.Down(ctx); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}

// allPairs checks that every endpoint reaches every other one and returns
// the matrix.
func allPairs(ctx context.Context, b *testing.B, eps []probe.Endpoint) probe.Matrix {
	b.Helper()
	var names []string
	for _, e := range eps {
		names = append(names, e.Name)
	}
	got := probe.Reachability(ctx, eps, probe.Opts{})
	if d := got.Diff(probe.Groups(names)); d != "" {
		b.Fatal(d)
	}
	return got
}

// upDown brings topo up and down with nslab and returns both times.
func upDown(b *testing.B, topo *lab.Topology) (up, down time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	l, up := upLab(ctx, b, topo)
	return up, downLab(ctx, b, l)
}

// BenchmarkMininet brings up and takes down the same topology — one
// segment (Mininet: one Linux bridge, no controller), 50 hosts with
// addresses — with Mininet 2.3 and with nslab, plain hosts and docker
// hosts (hostd, no container), in the same run, settled before each, and
// reports each one's time per host (up and down) and how many times
// Mininet's a host of nslab's costs; beside them the kernel's floor
// (kernelFloor: the same namespaces, veths and addresses with nothing
// else) and Mininet's over it, the ratio no tool could pass:
//
//	go test -run '^$' -bench Mininet -benchtime 3x ./bench/
func BenchmarkMininet(b *testing.B) {
	needMininet(b)
	var mn, floor, plain, docker time.Duration
	for i := 0; i < b.N; i++ {
		settle(b)
		t := runMininet(b, mininetHosts, false)
		mn += time.Duration((t.Up + t.Down) * float64(time.Second))
		settle(b)
		floor += kernelFloor(b, mininetHosts)
		settle(b)
		up, down := upDown(b, segmentTopology(lab.KindPlain, mininetHosts))
		plain += up + down
		settle(b)
		up, down = upDown(b, segmentTopology(lab.KindDocker, mininetHosts))
		docker += up + down
	}
	per := func(d time.Duration) float64 {
		return float64(d.Microseconds()) / 1000 / float64(b.N) / mininetHosts
	}
	b.ReportMetric(per(mn), "mininet-ms/host")
	b.ReportMetric(per(floor), "floor-ms/host")
	b.ReportMetric(per(plain), "nslab-plain-ms/host")
	b.ReportMetric(per(docker), "nslab-docker-ms/host")
	b.ReportMetric(per(mn)/per(plain), "plain-x")
	b.ReportMetric(per(mn)/per(docker), "docker-x")
	// The most any tool could reach: Mininet's cost over the kernel's.
	b.ReportMetric(per(mn)/per(floor), "floor-x")
}

// BenchmarkPingAll checks all-pairs reachability of 50 endpoints on one
// segment both ways in the same run: Mininet's pingAll between its 50
// hosts (one ping -c1 after another, through each host's shell; static
// ARP entries first, see mininet_side.py; their setting counts in
// Mininet's total, not in its pings), and
// probe.Reachability between 50 containers on one docker host's docker0
// (2,450 ICMP probes, each with the default deadline of 5 s and a request
// every 100 ms until it is answered; every pair must answer). It reports
// both times, with and without bringing the hosts up and down, the ratios,
// and the share of Mininet's pings that went unanswered:
//
//	go test -run '^$' -bench PingAll -benchtime 3x ./bench/
func BenchmarkPingAll(b *testing.B) {
	needMininet(b)
	var mnPing, mnAll, matrix, all time.Duration
	var loss float64
	for i := 0; i < b.N; i++ {
		settle(b)
		t := runMininet(b, mininetHosts, true)
		if t.PingAll == nil || t.Loss == nil {
			b.Fatalf("mininet pingall: %+v", t)
		}
		// pingAll sends one request per pair and waits a second for it:
		// on a busy machine a few may go unanswered.
		loss += *t.Loss
		mnPing += time.Duration(*t.PingAll * float64(time.Second))
		mnAll += time.Duration((t.Up + t.ARP + *t.PingAll + t.Down) * float64(time.Second))
		settle(b)
		m, total := containerMatrix(b, mininetHosts)
		matrix += m
		all += total
	}
	s := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	b.ReportMetric(s(mnPing), "mininet-pingall-s")
	b.ReportMetric(loss/float64(b.N), "mininet-loss-%")
	b.ReportMetric(s(matrix), "nslab-matrix-s")
	b.ReportMetric(s(mnPing)/s(matrix), "matrix-x")
	b.ReportMetric(s(mnAll), "mininet-total-s")
	b.ReportMetric(s(all), "nslab-total-s")
	b.ReportMetric(s(mnAll)/s(all), "total-x")
}

// containerMatrix brings up one docker host with n containers on docker0,
// checks that every container reaches every other one, takes the lab down
// and returns the matrix's time and the whole time.
func containerMatrix(b *testing.B, n int) (matrix, total time.Duration) {
	b.Helper()
	topo := segmentTopology(lab.KindDocker, 1)
	for i := 1; i <= n; i++ {
		topo.Hosts[0].Containers = append(topo.Hosts[0].Containers, lab.ContainerSpec{
			Name: fmt.Sprintf("c%d", i), Image: "alpine", Command: []string{"sleep", "infinity"},
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	l, up := upLab(ctx, b, topo)
	h := l.Hosts()[0]
	b.StopTimer()
	var eps []probe.Endpoint
	for _, c := range topo.Hosts[0].Containers {
		ns := h.ContainerNetNS(c.Name)
		eps = append(eps, probe.Endpoint{Name: c.Name, NS: ns, Addr: eth0Address(b, ns)})
	}
	b.StartTimer()
	got := allPairs(ctx, b, eps)
	return got.Elapsed, up + got.Elapsed + downLab(ctx, b, l)
}

// eth0Address reads a container's address from its namespace.
func eth0Address(b *testing.B, ns string) netip.Addr {
	b.Helper()
	h, err := netns.Handle(ns)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName("eth0")
	if err != nil {
		b.Fatalf("%s: %v", ns, err)
	}
	addrs, err := netns.AddrList(h, l, netlink.FAMILY_V4)
	if err != nil || len(addrs) == 0 {
		b.Fatalf("%s: eth0 has no IPv4 address (%v)", ns, err)
	}
	a, _ := netip.AddrFromSlice(addrs[0].IP.To4())
	return a
}
