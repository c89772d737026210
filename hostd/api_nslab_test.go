package hostd_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/hostd/api"
	"github.com/nslab/nslab/hostdconfig"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/nstest"
	"github.com/nslab/nslab/netns/probe"
)

// /nslab/gre makes a gretap in hostd's namespace, joined to docker0, that
// carries traffic to a peer host (another hostd's tunnel, with an address
// of docker0's subnet on it); it lists, refuses duplicates and bad
// addresses with 409 and 400, deletes with 204 then 404, and hostd removes
// what is left when it stops.
func TestNslabGRE(t *testing.T) {
	h := startHostd(t)
	peer := startHostdWith(t, func(c *hostdconfig.Config) { c.DefaultBridge = "172.30.0.1/16" })
	nstest.Veth(t, h.nsPath, "eth1", peer.nsPath, "eth1")
	nstest.Addr(t, h.nsPath, "eth1", "192.168.99.101/24")
	nstest.Addr(t, peer.nsPath, "eth1", "192.168.99.102/24")

	body := `{"Name":"gre1","Local":"192.168.99.101","Remote":"192.168.99.102","Bridge":"docker0"}`
	code, _, out := h.api("POST", "/nslab/gre", body)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, out)
	}
	var got api.GRETunnel
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "gre1" || got.MTU != 1462 || got.Bridge != "docker0" || got.Key != nil || got.Stats == nil {
		t.Fatalf("create answered %+v", got)
	}
	nl, err := netns.Handle(h.nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	l, err := nl.LinkByName("gre1")
	if err != nil {
		t.Fatal(err)
	}
	br, err := nl.LinkByName("docker0")
	if err != nil {
		t.Fatal(err)
	}
	if l.Attrs().MasterIndex != br.Attrs().Index || l.Attrs().MTU != 1462 {
		t.Fatalf("gre1: master %d (docker0 is %d), mtu %d", l.Attrs().MasterIndex, br.Attrs().Index, l.Attrs().MTU)
	}
	// The kernel's gretap where it has one, else a tap that hostd's
	// userspace tunnel serves.
	if kind := map[string]string{"kernel": "gretap", "userspace": "tuntap"}[got.Impl]; kind == "" || l.Type() != kind {
		t.Fatalf("gre1 is a %s link, the tunnel says %q", l.Type(), got.Impl)
	}

	h.wantError("POST", "/nslab/gre", body, http.StatusConflict, "gre gre1: a tunnel of that name exists")
	h.wantError("POST", "/nslab/gre", `{"Name":"gre2","Local":"1.2.3","Remote":"192.168.99.102"}`, http.StatusBadRequest, `gre gre2: local "1.2.3" is not an IP address`)
	h.wantError("POST", "/nslab/gre", `{"Local":"192.168.99.101","Remote":"192.168.99.102"}`, http.StatusBadRequest, "gre: a tunnel needs a name")

	// The peer's end, with an address of docker0's subnet right on it:
	// hostd's docker0 answers through the tunnel.
	if code, _, out := peer.api("POST", "/nslab/gre", `{"Name":"gre1","Local":"192.168.99.102","Remote":"192.168.99.101"}`); code != http.StatusCreated {
		t.Fatalf("the peer's end: %d %s", code, out)
	}
	nstest.Addr(t, peer.nsPath, "gre1", "172.17.0.99/16")
	if _, err := probe.Ping(context.Background(), peer.nsPath, netip.MustParseAddr("172.17.0.1"), probe.Opts{Timeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}

	code, _, out = h.api("GET", "/nslab/gre", "")
	var list []api.GRETunnel
	if err := json.Unmarshal([]byte(out), &list); code != http.StatusOK || err != nil {
		t.Fatalf("list: %d %s %v", code, out, err)
	}
	if len(list) != 1 || list[0].Name != "gre1" || list[0].Stats == nil || list[0].Stats.RxPackets == 0 || list[0].Stats.TxPackets == 0 {
		t.Fatalf("list: %s", out)
	}

	if code, _, out := h.api("DELETE", "/nslab/gre/gre1", ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, out)
	}
	if _, err := nl.LinkByName("gre1"); err == nil {
		t.Fatal("gre1 still exists after delete")
	}
	h.wantError("DELETE", "/nslab/gre/gre1", "", http.StatusNotFound, "gre: no such tunnel: gre1")

	// What is left at shutdown goes with hostd.
	if code, _, out := h.api("POST", "/nslab/gre", strings.Replace(body, "gre1", "gre9", 1)); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, out)
	}
	if err := h.terminate(); err != nil {
		t.Fatal(err)
	}
	links, err := netns.LinkList(nl)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Attrs().Name == "gre9" {
			t.Fatal("gre9 outlived hostd")
		}
	}
}

// POST /nslab/reset puts hostd back to how it started, in the same
// process: the containers and every network but the predefined go, with
// their links and rules, and so do the events to look back on; the same
// commands then give the same numbers as on the fresh daemon: the next
// default pool, the first ephemeral port, the containers' addresses and
// MACs, and the interface indexes of eth0 and of its peer.
func TestNslabReset(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	fresh := h.studentRun()
	if !strings.Contains(fresh, "172.18.0.0/16") {
		t.Fatalf("a fresh hostd's first network is not on 172.18.0.0/16:\n%s", fresh)
	}
	for round := 1; round <= 2; round++ {
		if code, _, out := h.api("POST", "/nslab/reset", ""); code != http.StatusNoContent {
			t.Fatalf("reset %d: %d %s", round, code, out)
		}
		if out := h.mustDocker("ps", "-aq"); out != "" {
			t.Errorf("reset %d: containers left:\n%s", round, out)
		}
		if out := h.mustDocker("network", "ls", "--format", "{{.Name}}"); out != "bridge\nhost\nnone\n" {
			t.Errorf("reset %d: networks:\n%s", round, out)
		}
		now := strconv.FormatInt(time.Now().Unix(), 10)
		if code, _, out := h.api("GET", "/events?since=0&until="+now, ""); code != http.StatusOK || out != "" {
			t.Errorf("reset %d: events to look back on: %d %q", round, code, out)
		}
		// In the kernel: nothing of the student's in hostd's namespace.
		nl, err := netns.Handle(h.nsPath)
		if err != nil {
			t.Fatal(err)
		}
		links, err := netns.LinkList(nl)
		nl.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			if n := l.Attrs().Name; strings.HasPrefix(n, "br-") || strings.HasPrefix(n, "veth") {
				t.Errorf("reset %d: link %s left", round, n)
			}
		}
		if got := h.studentRun(); got != fresh {
			t.Errorf("after reset %d:\n%s\nfresh:\n%s", round, got, fresh)
		}
	}
}

// studentRun makes a user network with a container publishing an
// ephemeral port, and a container on the default bridge, and returns
// what numbers they got.
func (h *testHost) studentRun() string {
	var b strings.Builder
	h.mustDocker("network", "create", "br1")
	b.WriteString(h.mustDocker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}", "br1"))
	h.mustDocker("run", "-d", "--name", "c1", "--network", "br1", "-p", "80", "busybox", "sleep", "1000")
	h.mustDocker("run", "-d", "--name", "c2", "busybox", "sleep", "1000")
	b.WriteString(h.mustDocker("port", "c1"))
	for _, c := range []string{"c1", "c2"} {
		b.WriteString(c + ": " + h.mustDocker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.MacAddress}}{{end}}", c))
		b.WriteString(h.mustDocker("exec", c, "cat", "/sys/class/net/eth0/ifindex", "/sys/class/net/eth0/iflink"))
	}
	return b.String()
}
