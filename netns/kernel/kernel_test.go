package kernel_test

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
	"github.com/nslab/nslab/netns/nstest"
	"github.com/nslab/nslab/netns/probe"
)

// world is a host a wired to a bridge br0 in b: a's ab (10.9.0.1/24) is
// the peer of b's ba, a port of br0 (10.9.0.2/24); a routes 10.50.0.0/16
// via b.
func world(t *testing.T) (a, b string) {
	t.Helper()
	nstest.NeedRoot(t)
	a, b = nstest.NewNS(t, prefix, "a"), nstest.NewNS(t, prefix, "b")
	nstest.Bridge(t, b, "br0")
	nstest.Veth(t, a, "ab", b, "ba")
	nstest.Enslave(t, b, "ba", "br0")
	nstest.Addr(t, a, "ab", "10.9.0.1/24")
	nstest.Addr(t, b, "br0", "10.9.0.2/24")
	nstest.Route(t, a, "10.50.0.0/16", "10.9.0.2", "ab")
	return a, b
}

func TestLinksAndRoutes(t *testing.T) {
	a, b := world(t)
	ab, err := kernel.LinkNamed(a, "ab")
	if err != nil {
		t.Fatal(err)
	}
	if ab.Kind != "veth" || !ab.Up || !slices.Equal(ab.Addrs, []string{"10.9.0.1/24"}) || ab.MTU != 1500 || ab.Master != "" {
		t.Errorf("ab: %+v", ab)
	}
	ba, err := kernel.LinkNamed(b, "ba")
	if err != nil {
		t.Fatal(err)
	}
	if ba.Master != "br0" || !ab.PairedWith(ba) || !ba.PairedWith(ab) {
		t.Errorf("ba %+v is not ab's peer on br0", ba)
	}
	links, err := kernel.Links(b)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Name)
	}
	if !slices.Equal(names, []string{"ba", "br0", "lo"}) {
		t.Errorf("links of b: %v", names)
	}
	if _, err := kernel.LinkNamed(a, "nope"); !errors.Is(err, kernel.ErrNotFound) {
		t.Errorf("missing link: %v", err)
	}

	routes, err := kernel.Routes(a, netlink.FAMILY_V4, kernel.MainTable)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range routes {
		lines = append(lines, r.String())
	}
	if want := []string{"10.50.0.0/16 via 10.9.0.2 dev ab", "10.9.0.0/24 dev ab"}; !slices.Equal(lines, want) {
		t.Errorf("main table of a: %q, want %q", lines, want)
	}
	all, err := kernel.Routes(a, netlink.FAMILY_V4, kernel.AllTables)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(all, func(r kernel.Route) bool { return r.Table == kernel.LocalTable && r.Dst == "10.9.0.1/32" }) {
		t.Errorf("all tables of a lack the local route of 10.9.0.1: %+v", all)
	}
	addrs, err := kernel.Addrs(b, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(addrs, kernel.Addr{Dev: "br0", CIDR: "10.9.0.2/24"}) {
		t.Errorf("addresses of b: %v", addrs)
	}
}

// After a ping, br0 has learned ab's MAC on port ba, a knows br0's MAC.
func TestNeighboursAndFDB(t *testing.T) {
	a, b := world(t)
	if _, err := probe.Ping(context.Background(), a, netip.MustParseAddr("10.9.0.2"), probe.Opts{}); err != nil {
		t.Fatal(err)
	}
	ab, _ := kernel.LinkNamed(a, "ab")
	ba, _ := kernel.LinkNamed(b, "ba")
	br, _ := kernel.LinkNamed(b, "br0")
	fdb, err := kernel.FDB(b, "br0")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(fdb, kernel.FDBEntry{MAC: ab.MAC, Port: "ba"}) || !slices.Contains(fdb, kernel.FDBEntry{MAC: ba.MAC, Port: "ba", Local: true}) {
		t.Errorf("br0's FDB %+v lacks ab's learned MAC %s or ba's own %s", fdb, ab.MAC, ba.MAC)
	}
	if _, err := kernel.FDB(a, "br0"); !errors.Is(err, kernel.ErrNotFound) {
		t.Errorf("FDB of a missing bridge: %v", err)
	}
	ns, err := kernel.Neighbours(a, "ab", netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(ns, func(n kernel.Neighbour) bool { return n.IP == "10.9.0.2" && n.MAC == br.MAC && n.Dev == "ab" }) {
		t.Errorf("a's neighbours %+v lack 10.9.0.2 at %s", ns, br.MAC)
	}
}

func TestSysctlAndRuleset(t *testing.T) {
	a, _ := world(t)
	if v, err := kernel.Sysctl(a, "net.ipv4.ip_forward"); err != nil || v != "0" {
		t.Fatalf("ip_forward of a fresh namespace: %q, %v", v, err)
	}
	if err := netns.Do(a, func() error { return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644) }); err != nil {
		t.Fatal(err)
	}
	if v, err := kernel.Sysctl(a, "net/ipv4/ip_forward"); err != nil || v != "1" {
		t.Fatalf("ip_forward after setting it: %q, %v", v, err)
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("iptables is not installed: no ruleset to read")
	}
	cmd := exec.Command("iptables", "-A", "INPUT", "-s", "10.9.0.9", "-j", "DROP")
	if err := netns.StartIn(a, cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	rs, err := kernel.Ruleset(a, kernel.IPTables)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rs, "-A INPUT -s 10.9.0.9/32 -j DROP") {
		t.Errorf("iptables-save in a:\n%s", rs)
	}
	if _, err := kernel.Ruleset(a, kernel.Dump{"no-such-dump-tool"}); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("a missing tool: %v", err)
	}
}

func TestPinsAndMounts(t *testing.T) {
	a, b := world(t)
	pins, err := kernel.Pins(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pins, filepath.Base(a)) || !slices.Contains(pins, filepath.Base(b)) {
		t.Errorf("pins %v lack %s and %s", pins, a, b)
	}
	ms, err := kernel.Mounts()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(ms, func(m kernel.Mount) bool { return m.Point == a && m.FSType == "nsfs" }) {
		t.Errorf("no nsfs mount at %s", a)
	}
}

// What Reset restores is read back: promiscuity, a route's metric and type,
// every writable sysctl (and chosen ones), the ruleset's generation, the
// qdiscs.
func TestStateForReset(t *testing.T) {
	a, _ := world(t)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"-n", filepath.Base(a)}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	run("link", "set", "ab", "promisc", "on")
	run("route", "add", "10.60.0.0/16", "via", "10.9.0.2", "metric", "7")
	run("route", "add", "blackhole", "10.61.0.0/16")
	ab, err := kernel.LinkNamed(a, "ab")
	if err != nil || !ab.Promisc {
		t.Errorf("ab after promisc on: %+v, %v", ab, err)
	}
	routes, err := kernel.Routes(a, netlink.FAMILY_V4, kernel.MainTable)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(routes, func(r kernel.Route) bool { return r.Dst == "10.60.0.0/16" && r.Metric == 7 && r.Type == "" }) ||
		!slices.ContainsFunc(routes, func(r kernel.Route) bool { return r.Dst == "10.61.0.0/16" && r.Type == "blackhole" }) {
		t.Errorf("routes: %+v", routes)
	}

	all, err := kernel.Sysctls(a)
	if err != nil {
		t.Fatal(err)
	}
	if all["net/ipv4/conf/ab/forwarding"] != "0" || all["net/ipv4/ip_forward"] != "0" {
		t.Errorf("sysctls: ab forwarding %q, ip_forward %q", all["net/ipv4/conf/ab/forwarding"], all["net/ipv4/ip_forward"])
	}
	if _, ok := all["net/netfilter/nf_conntrack_count"]; ok {
		t.Error("a read-only counter is among the writable sysctls")
	}
	if err := netns.Do(a, func() error { return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0) }); err != nil {
		t.Fatal(err)
	}
	some, err := kernel.SysctlValues(a, []string{"net/ipv4/ip_forward", "net/ipv4/conf/gone/forwarding"})
	if err != nil || len(some) != 1 || some["net/ipv4/ip_forward"] != "1" {
		t.Errorf("SysctlValues: %v, %v", some, err)
	}

	g0, err := kernel.RulesetGeneration(a)
	if err != nil {
		t.Fatal(err)
	}
	if g0 != kernel.PristineGeneration {
		t.Errorf("generation of a namespace where nothing was committed: %d, want %d", g0, kernel.PristineGeneration)
	}
	if g1, _ := kernel.RulesetGeneration(a); g1 != g0 {
		t.Errorf("generation moved by itself: %d, %d", g0, g1)
	}
	if out, err := exec.Command("ip", "netns", "exec", filepath.Base(a), "nft", "add", "table", "inet", "t").CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	if g2, _ := kernel.RulesetGeneration(a); g2 == g0 {
		t.Errorf("generation did not move with a new table: %d", g2)
	}

	run("link", "set", "ab", "txqueuelen", "1000")
	if out, err := exec.Command("ip", "netns", "exec", filepath.Base(a), "tc", "qdisc", "add", "dev", "ab", "root", "tbf", "rate", "1mbit", "burst", "32kbit", "latency", "400ms").CombinedOutput(); err != nil {
		t.Fatalf("tc: %v: %s", err, out)
	}
	qs, err := kernel.Qdiscs(a)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(qs, func(q kernel.Qdisc) bool { return q.Dev == "ab" && q.Kind == "tbf" && q.Parent == "root" }) {
		t.Errorf("qdiscs: %+v", qs)
	}
}

// BenchmarkSysctlValues reads every writable network sysctl of a
// namespace with a link, as a lab's reset reads each namespace's (some
// 800 keys), reported per key.
func BenchmarkSysctlValues(b *testing.B) {
	nstest.NeedRoot(b)
	a := nstest.NewNS(b, prefix, "a")
	all, err := kernel.Sysctls(a)
	if err != nil {
		b.Fatal(err)
	}
	keys := slices.Collect(maps.Keys(all))
	b.ResetTimer()
	for range b.N {
		got, err := kernel.SysctlValues(a, keys)
		if err != nil || len(got) != len(keys) {
			b.Fatalf("%d of %d keys: %v", len(got), len(keys), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(keys)), "ns/key")
}
