package lab

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/hostdconfig"
)

// buildEtcd is cmd/nslab-etcd, built once per test binary.
func buildEtcd(t testing.TB) string { return etcdTestProgram.Path(t, EtcdBinaryName) }

// etcdTopology is two hosts, each an etcd member, as plain
// hosts (the members need no daemon).
func etcdTopology() *Topology {
	t := &Topology{
		Segments: []Segment{{Name: "lan0", Prefix: netip.MustParsePrefix("192.168.8.0/24")}},
		Etcd:     &EtcdSettings{Token: "etcd-cluster"},
	}
	for _, h := range []struct{ name, member, addr string }{
		{"node1", "docker-node1", "192.168.8.150"},
		{"node2", "docker-node2", "192.168.8.148"},
	} {
		t.Hosts = append(t.Hosts, HostSpec{
			Name: h.name, Kind: KindPlain,
			Interfaces: []InterfaceSpec{{Segment: "lan0", Address: netip.MustParsePrefix(h.addr + "/24")}},
			Etcd:       &EtcdMember{Name: h.member},
		})
	}
	return t
}

// The lab starts the members before anything else runs, each inside its
// host and listening on the host's underlay address and loopback; it
// reports them healthy, stops and restarts one, and down leaves no member
// process behind.
func TestEtcdMembers(t *testing.T) {
	requireRoot(t)
	bin := buildEtcd(t)
	before := rootSnapshot(t)
	root := t.TempDir()
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.Now()
	l, err := Up(ctx, etcdTopology(), Options{Root: root, ID: "tetcd0", Etcd: bin, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("up with a two-member cluster: %s; %s", time.Since(t0).Round(time.Millisecond),
		regexp.MustCompile(`etcd: .*`).FindString(progress.String()))
	dir := l.StateDir()
	down := takeDown(t, l)
	if !strings.Contains(progress.String(), "etcd: 2 members ready in ") {
		t.Errorf("progress does not report the cluster: %q", progress.String())
	}

	var pids []int
	for _, h := range []string{"node1", "node2"} {
		s, err := l.EtcdStatus(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Healthy || s.PID == 0 {
			t.Fatalf("%s: %+v, want a healthy running member", h, s)
		}
		pids = append(pids, s.PID)
		// The member's sockets are the host's: the underlay address and
		// the host's own loopback, nothing in the machine's namespace.
		r, err := l.named[h].Exec(ctx, "ss", "-Htln")
		if err != nil || r.ExitCode != 0 {
			t.Fatalf("%s: ss: %v %+v", h, err, r)
		}
		addr := l.named[h].Spec.Etcd.Address.String()
		for _, want := range []string{addr + ":2379", "127.0.0.1:2379", addr + ":2380"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("%s: no listener on %s:\n%s", h, want, r.Stdout)
			}
		}
	}

	if err := l.StopEtcd(ctx, "node2"); err != nil {
		t.Fatal(err)
	}
	if s, _ := l.EtcdStatus(ctx, "node2"); s.PID != 0 || s.Healthy {
		t.Errorf("node2 after StopEtcd: %+v", s)
	}
	if err := l.StopEtcd(ctx, "node2"); err == nil || !strings.Contains(err.Error(), "etcd member docker-node2 is not running") {
		t.Errorf("second StopEtcd: %v", err)
	}
	// Alone, node1 loses its leader: etcd's /health says so.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, _ := l.EtcdStatus(ctx, "node1")
		if !s.Healthy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node1 still healthy 5s after node2 stopped: %+v", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t1 := time.Now()
	if err := l.StartEtcd(ctx, "node2"); err != nil {
		t.Fatal(err)
	}
	t.Logf("docker-node2 rejoined in %s", time.Since(t1).Round(time.Millisecond))
	if err := l.StartEtcd(ctx, "node2"); err == nil || !strings.Contains(err.Error(), "runs already") {
		t.Errorf("second StartEtcd: %v", err)
	}
	for _, h := range []string{"node1", "node2"} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			s, _ := l.EtcdStatus(ctx, h)
			if s.Healthy {
				pids = append(pids, s.PID)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not healthy again: %+v", h, s)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	down()
	for _, pid := range pids {
		if _, ok := procStart(pid); ok {
			t.Errorf("etcd member pid %d survived down", pid)
		}
	}
	requireGone(t, "tetcd0", dir)
	requireRootUnchanged(t, before)
}

// A lab opened by another process (the CLI) stops and starts members too.
func TestEtcdFromOpenedLab(t *testing.T) {
	requireRoot(t)
	bin := buildEtcd(t)
	t.Setenv("NSLAB_ETCD_BIN", bin)
	root := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := Up(ctx, etcdTopology(), Options{Root: root, ID: "tetcd1"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Down(context.Background())
	o, err := Open(root, "tetcd1")
	if err != nil {
		t.Fatal(err)
	}
	if err := o.StopEtcd(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	if err := o.StartEtcd(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.EtcdStatus(ctx, "nodeX"); err == nil {
		t.Error("status of an unknown host")
	}
	if err := o.StopEtcd(ctx, "node1x"); err == nil {
		t.Error("stop on an unknown host")
	}
}

// Without nslab-etcd anywhere, Up refuses before anything exists and says
// where it looked.
func TestEtcdBinaryMissing(t *testing.T) {
	t.Setenv("NSLAB_ETCD_BIN", "")
	t.Setenv("NSLAB_BIN", "")
	t.Setenv("PATH", t.TempDir())
	root := t.TempDir()
	_, err := Up(context.Background(), etcdTopology(), Options{Root: root, ID: "tetcd2", Binary: filepath.Join(t.TempDir(), "nslab")})
	if err == nil || !strings.Contains(err.Error(), "the topology has etcd members, which run nslab-etcd") {
		t.Fatalf("got %v", err)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Fatalf("state root not empty: %v", ents)
	}
}

// hostd gets the host's cluster store and advertise address in its
// configuration, dockerd the flags of the same name.
func TestClusterStoreToDaemons(t *testing.T) {
	topo, err := LoadTopology(filepath.Join("..", "fixtures", "overlay.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	l := &Lab{topo: topo, dir: t.TempDir(), state: &labState{ID: "tcs0"}}
	l.makeHosts()
	h := l.named["node2"]
	s, err := h.dockerdSpec()
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(s.args(), " ")
	if !strings.Contains(args, "--cluster-store etcd://192.168.8.148:2379 --cluster-advertise 192.168.8.148:2375") {
		t.Errorf("dockerd args: %s", args)
	}
	want := []string{"-name docker-node2", "-advertise 192.168.8.148", "-cluster docker-node1=192.168.8.150,docker-node2=192.168.8.148", "-loopback", "-v2", "-token etcd-cluster"}
	got := strings.Join(h.etcdArgs(), " ")
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("nslab-etcd args %q lack %q", got, w)
		}
	}
	// startHostd writes hostd.json before it starts anything; the host's
	// namespace does not exist here, so the start itself fails.
	if err := h.startHostd(filepath.Join(t.TempDir(), "no-such-"+HostdBinaryName), Options{}); err == nil {
		t.Fatal("hostd started without a namespace")
	}
	cfg, err := hostdconfig.Load(filepath.Join(h.dir, "hostd.json"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClusterStore != "etcd://192.168.8.148:2379" || cfg.ClusterAdvertise != "192.168.8.148:2375" {
		t.Errorf("hostd.json: cluster store %q, advertise %q", cfg.ClusterStore, cfg.ClusterAdvertise)
	}
}

// BenchmarkEtcdUp brings up the two-member cluster of etcdTopology and
// takes it down again; ready-ms is the time from starting the members
// until both have joined (the lab's progress line), up-ms the whole Up.
func BenchmarkEtcdUp(b *testing.B) {
	requireRoot(b)
	bin := buildEtcd(b)
	root := b.TempDir()
	re := regexp.MustCompile(`etcd: 2 members ready in (\S+)`)
	var ready, up time.Duration
	for i := 0; i < b.N; i++ {
		var progress bytes.Buffer
		t0 := time.Now()
		l, err := Up(context.Background(), etcdTopology(), Options{Root: root, Etcd: bin, Progress: &progress})
		if err != nil {
			b.Fatal(err)
		}
		up += time.Since(t0)
		m := re.FindStringSubmatch(progress.String())
		if m == nil {
			b.Fatalf("no ready line in %q", progress.String())
		}
		d, err := time.ParseDuration(m[1])
		if err != nil {
			b.Fatal(err)
		}
		ready += d
		if err := l.Down(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(ready.Milliseconds())/float64(b.N), "ready-ms")
	b.ReportMetric(float64(up.Milliseconds())/float64(b.N), "up-ms")
}

// A lab whose owner died is removed by GC with its etcd members.
func TestEtcdGC(t *testing.T) {
	requireRoot(t)
	bin := buildEtcd(t)
	root := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := Up(ctx, etcdTopology(), Options{Root: root, ID: "tetcd3", Etcd: bin})
	if err != nil {
		t.Fatal(err)
	}
	var members []proc
	for _, h := range l.Hosts() {
		p, ok := h.etcdProc()
		if !ok {
			t.Fatalf("%s: no member running", h.Name)
		}
		members = append(members, p)
	}
	orphan(t, l)
	removed, err := GC(ctx, root)
	if err != nil || len(removed) != 1 || removed[0] != "tetcd3" {
		t.Fatalf("GC: %v %v", removed, err)
	}
	for _, p := range members {
		if p.alive() {
			t.Errorf("etcd member pid %d survived GC", p.pid)
		}
	}
	requireGone(t, "tetcd3", l.StateDir())
}
