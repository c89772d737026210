package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nslab/nslab/hostd/api"
	"github.com/nslab/nslab/netns/capture"
)

func TestParseGREAdd(t *testing.T) {
	k := func(v uint32) *uint32 { return &v }
	for _, tc := range []struct {
		in   string
		want api.GRETunnel
		bad  string
	}{
		{in: "gre0 local 192.168.99.102 remote 192.168.99.101",
			want: api.GRETunnel{Name: "gre0", Local: "192.168.99.102", Remote: "192.168.99.101"}},
		{in: "gre0 remote 10.0.0.2 key 7 csum local 10.0.0.1 bridge docker0 mtu 1400",
			want: api.GRETunnel{Name: "gre0", Local: "10.0.0.1", Remote: "10.0.0.2", Key: k(7), Checksum: true, Bridge: "docker0", MTU: 1400}},
		// ip-link takes a key as a dotted quad too.
		{in: "gre0 local 10.0.0.1 remote 10.0.0.2 key 0.0.1.2 master br0",
			want: api.GRETunnel{Name: "gre0", Local: "10.0.0.1", Remote: "10.0.0.2", Key: k(258), Bridge: "br0"}},
		{in: "", bad: "missing NAME"},
		{in: "gre0 local 10.0.0.1", bad: "local and remote are required"},
		{in: "gre0 local 10.0.0.1 remote", bad: `"remote" needs a value`},
		{in: "gre0 local 10.0.0.1 remote 10.0.0.2 local 10.0.0.3", bad: `"local" given twice`},
		{in: "gre0 local fe80::1 remote 10.0.0.2", bad: `local "fe80::1" is not an IPv4 address`},
		{in: "gre0 local 10.0.0.1 remote 10.0.0.2 key 4294967296", bad: "neither a 32-bit number nor a dotted quad"},
		{in: "gre0 local 10.0.0.1 remote 10.0.0.2 mtu -1", bad: "not a positive number"},
		{in: "gre0 local 10.0.0.1 remote 10.0.0.2 ttl 3", bad: `unknown word "ttl"`},
	} {
		got, err := parseGREAdd(strings.Fields(tc.in))
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("parseGREAdd(%q) = %+v, %v; want an error with %q", tc.in, got, err, tc.bad)
			}
			continue
		}
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(tc.want)
		if err != nil || string(gj) != string(wj) {
			t.Errorf("parseGREAdd(%q) = %s, %v; want %s", tc.in, gj, err, wj)
		}
	}
}

// TestGREAndCapture is a student's E19 session on a lab: tunnels on both
// hosts with `nslab gre`, listed by `gre ls` and `inspect`, a capture of
// the underlay to a pcap file that tcpdump's reader takes, a summary
// capture, and `gre del`.
func TestGREAndCapture(t *testing.T) {
	needRoot(t)
	t.Parallel()
	bin, root, id := freshLab(t, "gre")
	at := []string{"--root", root, "--lab", id}
	mustNslab(t, bin, "--root", root, "up", "--detach", "--id", id, "../../fixtures/crosshost.yaml")
	defer mustNslab(t, bin, append(at, "down")...)

	impl := "userspace"
	if out := mustNslab(t, bin, append(at, "gre", "host102", "add", "gre7", "local", "192.168.99.102", "remote", "192.168.99.101", "key", "7", "bridge", "docker0")...).stdout; !strings.Contains(out, "gre7: gretap local 192.168.99.102 remote 192.168.99.101 key 7, bridge docker0, mtu 1458, ") {
		t.Fatalf("gre add: %q", out)
	} else if strings.HasSuffix(out, "kernel\n") {
		impl = "kernel"
	}
	mustNslab(t, bin, append(at, "gre", "host101", "add", "gre7", "local", "192.168.99.101", "remote", "192.168.99.102", "key", "7", "bridge", "docker0")...)
	if r := nslab(t, bin, append(at, "gre", "host101", "add", "gre7", "local", "192.168.99.101", "remote", "192.168.99.102")...); r.code != 1 || !strings.Contains(r.stderr, "gre gre7: a tunnel of that name exists") {
		t.Errorf("second add: %d %q", r.code, r.stderr)
	}
	ls := mustNslab(t, bin, append(at, "gre", "host101", "ls")...).stdout
	if !regexp.MustCompile(`(?m)^gre7\s+192\.168\.99\.101\s+192\.168\.99\.102\s+7\s+false\s+docker0\s+1458\s+` + impl + `\s+\d+\s+\d+$`).MatchString(ls) {
		t.Errorf("gre ls:\n%s", ls)
	}
	var d struct {
		Hosts []struct {
			Name    string
			Tunnels []api.GRETunnel
		}
	}
	if err := json.Unmarshal([]byte(mustNslab(t, bin, append(at, "inspect")...).stdout), &d); err != nil {
		t.Fatal(err)
	}
	for _, h := range d.Hosts {
		if len(h.Tunnels) != 1 || h.Tunnels[0].Name != "gre7" || h.Tunnels[0].Impl != impl {
			t.Errorf("inspect: host %s tunnels %+v", h.Name, h.Tunnels)
		}
	}

	// The tunnel joins the two docker0: each host's routes put the other's
	// subnet on its own. A first ping resolves the underlay's and docker0's
	// neighbours, so that what the capture then sees is all GRE.
	mustNslab(t, bin, append(at, "exec", "host102", "--", "ip", "route", "add", "172.18.0.0/16", "dev", "docker0")...)
	mustNslab(t, bin, append(at, "exec", "host101", "--", "ip", "route", "add", "172.17.0.0/16", "dev", "docker0")...)
	mustNslab(t, bin, append(at, "exec", "host102", "--", "ping", "-c", "1", "-W", "5", "172.18.0.1")...)
	pcap := filepath.Join(t.TempDir(), "gre.pcap")
	done := make(chan result, 1)
	go func() {
		done <- nslab(t, bin, append(at, "capture", "host101", "eth1", "-w", pcap, "-c", "6", "--duration", "20s")...)
	}()
	time.Sleep(500 * time.Millisecond)
	mustNslab(t, bin, append(at, "exec", "host102", "--", "ping", "-c", "5", "-i", "0.2", "172.18.0.1")...)
	r := <-done
	if r.code != 0 || !strings.HasPrefix(r.stderr, "6 packets captured on eth1 in ") {
		t.Fatalf("capture -w: %d %q", r.code, r.stderr)
	}
	f, err := os.Open(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if pr.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("link type %v", pr.LinkType())
	}
	// Ten GRE packets cross; the six first seen may include the hosts'
	// own chatter (IGMP reports), never more than a couple.
	n, tunnelled := 0, 0
	for {
		data, _, err := pr.ReadPacketData()
		if err != nil {
			break
		}
		n++
		f := capture.Summarize(capture.Packet{Data: data, LinkType: pr.LinkType()})
		if f.GRE != nil && f.GRE.Protocol == 0x6558 && f.GRE.Key != nil && *f.GRE.Key == 7 && f.Inner != nil && strings.HasPrefix(f.Inner.Src, "172.1") {
			tunnelled++
		}
	}
	if n != 6 || tunnelled < 4 {
		t.Errorf("the pcap holds %d packets, %d of them GRE with Ethernet inside; want 6, at least 4", n, tunnelled)
	}

	go func() { done <- nslab(t, bin, append(at, "capture", "host101", "eth1", "--duration", "2s")...) }()
	time.Sleep(500 * time.Millisecond)
	mustNslab(t, bin, append(at, "exec", "host102", "--", "ping", "-c", "1", "172.18.0.1")...)
	r = <-done
	if r.code != 0 || !regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{6} .*IP 192\.168\.99\.102 > 192\.168\.99\.101 proto GRE \(47\) ttl 64, GRE proto 0x6558 key 7, .*IP 172\.17\.0\.1 > 172\.18\.0\.1 proto ICMPv4 \(1\) ttl 64, ICMP EchoRequest`).MatchString(r.stdout) {
		t.Errorf("capture summary: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	mustNslab(t, bin, append(at, "gre", "host101", "del", "gre7")...)
	if ls := mustNslab(t, bin, append(at, "gre", "host101", "ls")...).stdout; strings.Contains(ls, "gre7") {
		t.Errorf("after del:\n%s", ls)
	}
	if r := nslab(t, bin, append(at, "gre", "host101", "del", "gre7")...); r.code != 1 || !strings.Contains(r.stderr, "no such tunnel: gre7") {
		t.Errorf("del twice: %d %q", r.code, r.stderr)
	}
}
