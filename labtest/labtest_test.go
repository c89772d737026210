package labtest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/onsi/gomega"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns/kernel"
	"github.com/nslab/nslab/netns/probe"
)

// twoPlain is two plain hosts on one segment: no daemon to start.
var twoPlain = []byte(`
segments:
  - name: lan0
    prefix: 10.10.0.0/24
hosts:
  - name: a
    kind: plain
    interfaces: [{segment: lan0, address: 10.10.0.1/24}]
  - name: b
    kind: plain
    interfaces: [{segment: lan0, address: 10.10.0.2/24}]
`)

// recorder is a test whose cleanups, failure and log the test around it
// looks at.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
	failed   bool
	logs     []string
}

func (r *recorder) Cleanup(f func()) { r.mu.Lock(); r.cleanups = append(r.cleanups, f); r.mu.Unlock() }
func (r *recorder) Failed() bool     { return r.failed }
func (r *recorder) Log(args ...any)  { r.Logf("%s", fmt.Sprint(args...)) }
func (r *recorder) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

// end runs the cleanups as the testing package does: last in, first out.
func (r *recorder) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: labs are network namespaces")
	}
}

// A lab from YAML bytes, with plain testing: a shell, probes, the
// matchers through gomega.NewWithT, the matrix; t's end takes it down.
func TestUpPlainTesting(t *testing.T) {
	needRoot(t)
	var l *Lab
	t.Run("lab", func(t *testing.T) {
		l = Up(t, twoPlain)
		a, b := l.Host("a"), l.Host("b")
		if out := a.Sh("ip -4 -o addr show"); !strings.Contains(out, "10.10.0.1") {
			t.Fatalf("a's shell is not in a: %q", out)
		}
		if err := a.Ping(t.Context(), "10.10.0.2"); err != nil {
			t.Fatal(err)
		}
		g := gomega.NewWithT(t)
		g.Expect(a).To(Reach("10.10.0.2"))
		g.Expect(b.NetNS()).To(Reach("10.10.0.1"))
		start := time.Now()
		g.Expect(a).NotTo(Reach("10.10.0.99").Within(time.Second))
		if took := time.Since(start); took < time.Second {
			t.Fatalf("an unreachable address was declared silent after %s, before its deadline", took)
		}
		g.Expect(l.Reachability(t.Context())).To(EqualMatrix(probe.Groups([]string{"a", "b"})))
	})
	if _, err := os.Stat(l.StateDir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state directory after the test: %v", err)
	}
	if pins, _ := kernel.Pins(l.ID() + "-"); len(pins) > 0 {
		t.Fatalf("pins after the test: %v", pins)
	}
}

// A probe that cannot be made (no such namespace) fails the matcher both
// ways: it is no proof of silence.
func TestReachCannotTell(t *testing.T) {
	g := gomega.NewWithT(t)
	ok, err := Reach("10.10.0.2").Within(time.Second).Match("/run/netns/labtest-no-such-namespace")
	g.Expect(ok).To(gomega.BeFalse())
	g.Expect(err).To(gomega.HaveOccurred())
	_, err = Reach("10.10.0.2").Match(42)
	g.Expect(err).To(gomega.MatchError(gomega.ContainSubstring("got int")))
}

// A docker host's lab from a topology built in Go: its daemon answers the
// host's Docker client, and a failed test gets the daemon's log before the
// lab goes.
func TestUpDockerHost(t *testing.T) {
	needRoot(t)
	topo := &lab.Topology{
		Segments: []lab.Segment{{Name: "lan0", Prefix: netip.MustParsePrefix("10.11.0.0/24")}},
		Hosts: []lab.HostSpec{{Name: "node1", Kind: lab.KindDocker,
			Interfaces: []lab.InterfaceSpec{{Segment: "lan0", Address: netip.MustParsePrefix("10.11.0.1/24")}}}},
	}
	r := &recorder{TB: t}
	l := Up(r, topo)
	ctx, cancel := context.WithTimeout(t.Context(), StepTimeout)
	defer cancel()
	if _, err := l.Host("node1").Docker().Ping(ctx, client.PingOptions{}); err != nil {
		t.Fatal(err)
	}
	if out := l.Host("node1").DockerCLI("network", "ls"); !strings.Contains(out, "bridge") {
		t.Fatalf("docker network ls: %q", out)
	}
	r.failed = true
	r.end()
	var shown bool
	for _, line := range r.logs {
		shown = shown || strings.Contains(line, "host node1: last 200 lines of "+filepath.Join(l.StateDir(), "node1", "hostd.log"))
	}
	if !shown {
		t.Fatalf("a failed test did not show hostd's log: %q", r.logs)
	}
	if _, err := os.Stat(l.StateDir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state directory after the test: %v", err)
	}
}

// Up names what a lab needs and the machine lacks: a kernel feature the
// topology's overlay needs, a dockerd that is not there.
func TestCannotRun(t *testing.T) {
	needRoot(t)
	overlay := &lab.Topology{Hosts: []lab.HostSpec{{Name: "n1", Kind: lab.KindDocker, ClusterStore: "etcd://10.0.0.1:2379"}}}
	if fs := needs(overlay); len(fs) != 2 || fs[0] != Overlayfs || fs[1] != VXLAN {
		t.Fatalf("an overlay host needs %v", fs)
	}
	if why := cannotRun(overlay, lab.Options{Runtime: lab.RuntimeDockerd, Dockerd: "/nonexistent/dockerd"}); !strings.Contains(why, "/nonexistent/dockerd") {
		t.Fatalf("a missing dockerd: %q", why)
	}
	if err := Supported("nosuchlink"); err == nil {
		t.Fatal("an unknown feature is supported")
	}
	// This kernel has no gretap module (see DESIGN.md); elsewhere it may.
	if err := Supported(Gretap); err != nil && !strings.Contains(err.Error(), "no gretap links") {
		t.Fatalf("gretap: %v", err)
	}
	if err := Supported(Macvlan); err != nil {
		t.Fatalf("macvlan, which this kernel has: %v", err)
	}
}

// Silent paths wait side by side: four closed paths (pings and a TCP
// handshake to an address nobody has) take about one SilenceTimeout, not
// four, and pass; with an open ping path and a listening port among
// them, the one failure names both open paths and not the closed one.
func TestExpectSilent(t *testing.T) {
	needRoot(t)
	gomega.RegisterTestingT(t) // ExpectSilent fails through Gomega's global Expect
	l := Up(t, twoPlain)
	a, b := l.Host("a").NetNS(), l.Host("b").NetNS()
	start := time.Now()
	fails := gomega.InterceptGomegaFailures(func() {
		ExpectSilent(NoPing(a, "10.10.0.99"), NoPing(a, "10.10.0.98"), NoPing(b, "10.10.0.97"),
			NoTCP(a, netip.MustParseAddrPort("10.10.0.99:80")))
	})
	took := time.Since(start)
	if len(fails) > 0 {
		t.Fatalf("closed paths reported open: %v", fails)
	}
	if took < SilenceTimeout || took >= 3*SilenceTimeout {
		t.Fatalf("four silent paths took %s: want one window of %s each, waited together", took, SilenceTimeout)
	}
	srv, err := probe.ServeTCPEcho(b, "10.10.0.2:9")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fails = gomega.InterceptGomegaFailures(func() {
		ExpectSilent(NoPing(a, "10.10.0.2"), NoPing(a, "10.10.0.99"),
			NoTCP(a, netip.MustParseAddrPort("10.10.0.2:9")))
	})
	if len(fails) != 1 {
		t.Fatalf("want one failure naming the open paths, got %d: %q", len(fails), fails)
	}
	for _, open := range []string{"ping 10.10.0.2 from " + a, "tcp 10.10.0.2:9 from " + a} {
		if !strings.Contains(fails[0], open) {
			t.Errorf("the failure does not name the open path %q: %s", open, fails[0])
		}
	}
	if strings.Contains(fails[0], "10.10.0.99") {
		t.Errorf("the failure names the closed path to 10.10.0.99: %s", fails[0])
	}
}
