package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/probe"
)

// However many legs a segment has, no bridge of its chain gets more ports
// than a bridge takes, counting the uplinks.
func TestSegmentChain(t *testing.T) {
	defer func(p int) { bridgePorts = p }(bridgePorts)
	for _, c := range []struct{ ports, n int }{
		{1023, 0}, {1023, 1}, {1023, 1022}, {1023, 1023}, {1023, 1024}, {1023, 2044}, {1023, 2045},
		{1023, 5000}, {1023, maxSegmentLegs()}, {4, 4}, {4, 5}, {4, 10}, {4, 12},
	} {
		bridgePorts = c.ports
		n := c.n
		bridges := chainLength(n)
		ports := make([]int, bridges)
		ports[0] = bridges - 1 // the first bridge's ends of the uplinks
		for k := 1; k < bridges; k++ {
			ports[k] = 1 // the uplink
		}
		for k := 0; k < n; k++ {
			b := segmentPort(k, bridges)
			if b < 0 || b >= bridges {
				t.Fatalf("n=%d: leg %d on bridge %d of %d", n, k, b, bridges)
			}
			ports[b]++
		}
		for b, p := range ports {
			if p > bridgePorts {
				t.Errorf("n=%d: bridge %d of %d has %d ports", n, b, bridges, p)
			}
		}
		if bridges > 1 && ports[bridges-1] <= 1 {
			t.Errorf("n=%d: the last of %d bridges holds no leg: one bridge too many", n, bridges)
		}
	}
}

// A segment with more legs than a bridge takes is served by a chain of
// bridges in the fabric, one L2 domain: with bridges of four ports, ten
// hosts on lan0 sit on four bridges, none over its ports, and every host
// pings every other one.
func TestLargeSegment(t *testing.T) {
	requireRoot(t)
	defer func(p int) { bridgePorts = p }(bridgePorts)
	bridgePorts = 4
	before := rootSnapshot(t)
	const n = 10
	l := upLab(t, plainTopology(n), Options{})
	links, _ := linksOf(t, netns.Path(l.ID()+"-"+fabricPinName))
	ports := map[string]int{}
	for _, k := range links {
		if m := k.Attrs().MasterIndex; m != 0 {
			for name, b := range links {
				if b.Attrs().Index == m {
					ports[name]++
				}
			}
		}
	}
	if len(ports) != 4 || ports["lan0"] == 0 {
		t.Fatalf("bridges and their ports: %v, want 4 bridges, lan0 first", ports)
	}
	for b, p := range ports {
		if p > bridgePorts {
			t.Errorf("bridge %s has %d ports, more than %d", b, p, bridgePorts)
		}
	}
	for i := range n {
		if m := links[legName(i, 0)].Attrs().MasterIndex; m == 0 {
			t.Errorf("leg %s is on no bridge", legName(i, 0))
		}
	}
	var eps []probe.Endpoint
	for _, h := range l.Hosts() {
		eps = append(eps, probe.Endpoint{Name: h.Name, NS: h.NetNS(), Addr: h.Spec.Interfaces[0].Address.Addr()})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := probe.Reachability(ctx, eps, probe.Opts{})
	var names []string
	for _, e := range eps {
		names = append(names, e.Name)
	}
	if d := got.Diff(probe.Groups(names)); d != "" {
		t.Fatal(d)
	}
	t.Logf("%d hosts on %d bridges (%v), all pairs in %s", n, len(ports), ports, got.Elapsed.Round(time.Millisecond))
	id, dir := l.ID(), l.StateDir()
	if err := l.Down(ctx); err != nil {
		t.Fatal(err)
	}
	requireGone(t, id, dir)
	requireRootUnchanged(t, before)
}

// A segment larger than the star of bridges is refused before anything is
// made, at its line.
func TestSegmentTooLarge(t *testing.T) {
	defer func(p int) { bridgePorts = p }(bridgePorts)
	bridgePorts = 4
	y := "segments:\n  - name: lan0\n    prefix: 10.0.0.0/16\nhosts:\n"
	for i := range maxSegmentLegs() + 1 {
		y += fmt.Sprintf("  - name: h%d\n    kind: plain\n    interfaces: [{segment: lan0}]\n", i)
	}
	_, err := ParseTopology("big.yaml", []byte(y))
	want := "big.yaml:2: segments[0].name: segment lan0 has 13 interfaces; its bridges hold at most 12 (5 bridges of 4 ports)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want %s", err, want)
	}
}

// A segment larger than this machine can broadcast to is refused before
// anything is made, saying why and what to do.
func TestSegmentTooLargeForTheMachine(t *testing.T) {
	n := netdevBacklog()*9/10 + 1
	topo := &Topology{Segments: []Segment{{Name: "lan0", Prefix: netip.MustParsePrefix("10.0.0.0/8")}}}
	for i := range n {
		topo.Hosts = append(topo.Hosts, HostSpec{Name: fmt.Sprintf("h%d", i), Kind: KindPlain,
			Interfaces: []InterfaceSpec{{Segment: "lan0"}}})
	}
	root := t.TempDir()
	_, err := Up(context.Background(), topo, Options{Root: root})
	want := fmt.Sprintf("segment lan0 has %d interfaces; this machine delivers a broadcast to at most %d", n, n-1)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "net.core.netdev_max_backlog") {
		t.Fatalf("error %v, want %s", err, want)
	}
	if ents, _ := os.ReadDir(root); len(ents) > 0 {
		t.Errorf("made %v before refusing", ents)
	}
}
