package main

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns/probe"
)

const twoPlainHosts = `
segments:
  - name: lan0
    prefix: 10.77.0.0/24
hosts:
  - name: h1
    kind: plain
    interfaces:
      - segment: lan0
        address: 10.77.0.1/24
  - name: h2
    kind: plain
    interfaces:
      - segment: lan0
        address: 10.77.0.2/24
`

// A student's session: unplug h1's cable and plug it in again, slow the
// link down, try a delay on a kernel without netem, clear it; each step
// read back from the kernel.
func TestLinkCommand(t *testing.T) {
	needRoot(t)
	t.Parallel()
	bin, root, id, _ := upDetached(t, "lk", twoPlainHosts)
	l, err := lab.Open(root, id)
	if err != nil {
		t.Fatal(err)
	}
	h1, _ := l.Host("h1")
	ctx := context.Background()
	peer := netip.MustParseAddr("10.77.0.2")
	nslabIn := func(args ...string) result {
		return nslab(t, bin, append([]string{"--root", root, "--lab", id}, args...)...)
	}

	if r := nslabIn("link", "h1", "eth1", "down"); r.code != 0 {
		t.Fatalf("link down: %d %s", r.code, r.stderr)
	}
	if s, err := h1.Link(ctx, "eth1"); err != nil || s.HostEnd.Carrier || !s.HostEnd.Up || s.FabricEnd.Up {
		t.Errorf("after link down: %+v %v", s, err)
	}
	if err := probe.ExpectUnreachable(ctx, h1.NetNS(), peer, probe.Opts{Timeout: 2 * time.Second}); err != nil {
		t.Errorf("after link down: %v", err)
	}
	if r := nslabIn("link", "h1", "eth1", "show"); !strings.Contains(r.stdout, "host end    eth1   up, no carrier") {
		t.Errorf("show after down:\n%s", r.stdout)
	}
	nslabIn("link", "h1", "eth1", "up")
	if _, err := probe.Ping(ctx, h1.NetNS(), peer, probe.Opts{Timeout: 5 * time.Second}); err != nil {
		t.Errorf("after link up: %v", err)
	}

	r := nslabIn("link", "h1", "eth1", "set", "--rate", "10mbit", "--loss", "5%", "--dir", "out")
	if r.code != 0 || !strings.Contains(r.stdout, "out (h1 sends)     rate 10mbit, loss 5%") || !strings.Contains(r.stdout, "in  (h1 receives)  clean") {
		t.Errorf("set: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	before, err := h1.Link(ctx, "eth1")
	if err != nil || before.Out.Rate != 10_000_000 || before.Out.Loss != 5 || before.In.Rate != 0 {
		t.Errorf("kernel after set: %+v %v", before, err)
	}
	r = nslabIn("link", "h1", "eth1", "set", "--delay", "10ms")
	if netem := lab.NetemSupport(); netem != nil {
		if r.code != 1 || !strings.Contains(r.stderr, "netem") {
			t.Errorf("set --delay without netem: status %d, %q", r.code, r.stderr)
		}
		if after, err := h1.Link(ctx, "eth1"); err != nil || after != before {
			t.Errorf("a refused delay changed the link: %+v, was %+v (%v)", after, before, err)
		}
	} else if r.code != 0 {
		t.Errorf("set --delay with netem: %d %s", r.code, r.stderr)
	}
	nslabIn("link", "h1", "eth1", "clear")
	r = nslabIn("link", "h1", "eth1", "show", "--json")
	var s lab.LinkStatus
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.Out != (lab.Shaping{}) || s.In != (lab.Shaping{}) || !s.HostEnd.Carrier {
		t.Errorf("show --json after clear: %+v %v\n%s", s, err, r.stdout)
	}
	if r := nslabIn("link", "h1", "eth9", "down"); r.code != 1 || !strings.Contains(r.stderr, `no interface "eth9"`) {
		t.Errorf("unknown interface: %d %q", r.code, r.stderr)
	}
	mustNslab(t, bin, "--root", root, "--lab", id, "down")
}
