package gre

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/capture"
	"github.com/nslab/nslab/netns/nstest"
	"github.com/nslab/nslab/netns/probe"
)

// Exercise E19, two docker bridges joined by Ethernet over GRE: hosts 192.168.99.101
// and 192.168.99.102, container networks 172.18.0.0/16 and 172.17.0.0/16
// on their docker bridges, a GRE tunnel between the hosts enslaved to the
// bridges, and on each host an on-link route to the other host's container
// network through its own bridge ("ip route add 172.17.0.0/16 dev docker0").

var (
	underlay1 = netip.MustParseAddr("192.168.99.101")
	underlay2 = netip.MustParseAddr("192.168.99.102")
	c1IP      = netip.MustParseAddr("172.18.0.2")
	c2IP      = netip.MustParseAddr("172.17.0.2")
)

// e19 is the lab: host and container namespaces.
type e19 struct {
	h1, h2, c1, c2 string
}

// newE19 builds the lab without the tunnel. underlayMTU and containerMTU
// (0: defaults) size the hosts' link and the containers' veths.
func newE19(t testing.TB, underlayMTU, containerMTU int) *e19 {
	t.Helper()
	l := &e19{h1: nstest.NewNS(t, prefix, "h1"), h2: nstest.NewNS(t, prefix, "h2"), c1: nstest.NewNS(t, prefix, "c1"), c2: nstest.NewNS(t, prefix, "c2")}
	veth(t, l.h1, "eth1", l.h2, "eth1", underlayMTU)
	nstest.Addr(t, l.h1, "eth1", "192.168.99.101/24")
	nstest.Addr(t, l.h2, "eth1", "192.168.99.102/24")
	for _, h := range []struct{ host, ctr, bridgeCIDR, ctrCIDR, gw, other string }{
		{l.h1, l.c1, "172.18.0.1/16", "172.18.0.2/16", "172.18.0.1", "172.17.0.0/16"},
		{l.h2, l.c2, "172.17.0.1/16", "172.17.0.2/16", "172.17.0.1", "172.18.0.0/16"},
	} {
		bridge(t, h.host, "docker0", h.bridgeCIDR)
		// Docker's container plumbing: a veth with eth0 in the container,
		// the host end on the bridge, a default route via the bridge.
		veth(t, h.host, "veth0", h.ctr, "eth0", containerMTU)
		nstest.Enslave(t, h.host, "veth0", "docker0")
		nstest.Addr(t, h.ctr, "eth0", h.ctrCIDR)
		nstest.Route(t, h.ctr, "default", h.gw, "eth0")
		// The other host's containers are on-link behind docker0, which
		// the tunnel extends to that host's bridge.
		nstest.Route(t, h.host, h.other, "", "docker0")
		sysctl(t, h.host, "net.ipv4.ip_forward", "1")
	}
	return l
}

// tunnelConfigs are the tunnel's two ends, each joined to its docker0.
func tunnelConfigs() (Config, Config) {
	return Config{Name: "gre0", Local: underlay1, Remote: underlay2, Bridge: "docker0"},
		Config{Name: "gre0", Local: underlay2, Remote: underlay1, Bridge: "docker0"}
}

// tunnel creates cfg inside host with create and closes it when the test
// ends (before the namespaces go: cleanups run last-in first-out).
func tunnel(t testing.TB, host string, cfg Config, create func(Config) (Tunnel, error)) Tunnel {
	t.Helper()
	return nstest.OpenIn(t, host, func() (Tunnel, error) { return create(cfg) })
}

// ping checks that from reaches to within the probe's default deadline.
func ping(t testing.TB, from string, to netip.Addr) {
	t.Helper()
	if _, err := probe.Ping(context.Background(), from, to, probe.Opts{}); err != nil {
		t.Fatal(err)
	}
}

// noPing checks that to stays silent for all of a 2-second deadline.
func noPing(t testing.TB, from string, to netip.Addr) {
	t.Helper()
	if err := probe.ExpectUnreachable(context.Background(), from, to, probe.Opts{Timeout: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
}

// greFrame is a GRE packet seen on the underlay, decoded by gopacket.
type greFrame struct {
	pkt          capture.Packet
	outer, inner *layers.IPv4
	gre          *layers.GRE
	innerEth     *layers.Ethernet
	greBytes     []byte // GRE header and payload, for checksum checks
}

// greOnWire decodes the GRE packets among pkts.
func greOnWire(t testing.TB, pkts []capture.Packet) []greFrame {
	t.Helper()
	var out []greFrame
	for _, p := range pkts {
		d := capture.Decode(p)
		var f greFrame
		f.pkt = p
		afterGRE := false
		for _, l := range d.Layers() {
			switch l := l.(type) {
			case *layers.IPv4:
				if afterGRE {
					f.inner = l
				} else {
					f.outer = l
				}
			case *layers.GRE:
				f.gre = l
				f.greBytes = append(append([]byte(nil), l.Contents...), l.Payload...)
				afterGRE = true
			case *layers.Ethernet:
				if afterGRE {
					f.innerEth = l
				}
			}
		}
		if f.outer != nil && f.outer.Protocol == layers.IPProtocolGRE {
			if f.gre == nil {
				t.Errorf("IPv4 protocol 47 that gopacket cannot decode as GRE: %v", d)
				continue
			}
			out = append(out, f)
		}
	}
	return out
}

// naiveChecksum is RFC 1071 written plainly, to check the package's one.
func naiveChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i < len(b); i += 2 {
		w := uint32(b[i]) << 8
		if i+1 < len(b) {
			w |= uint32(b[i+1])
		}
		s += w
	}
	for s>>16 != 0 {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// wantGRE checks every GRE packet of frames against the tunnel settings and
// that container traffic crossed in both directions.
func wantGRE(t testing.TB, frames []greFrame, key *uint32, csum bool) {
	t.Helper()
	var there, back int
	for _, f := range frames {
		g := f.gre
		if g.Protocol != layers.EthernetTypeTransparentEthernetBridging || g.Version != 0 || g.RoutingPresent || g.SeqPresent {
			t.Errorf("GRE header %+v: want version 0, protocol 0x6558, no routing or sequence", g)
		}
		if g.KeyPresent != (key != nil) || (key != nil && g.Key != *key) {
			t.Errorf("GRE key present=%v value=%#x, want %v", g.KeyPresent, g.Key, key)
		}
		if g.ChecksumPresent != csum {
			t.Errorf("GRE checksum present=%v, want %v", g.ChecksumPresent, csum)
		}
		if csum && naiveChecksum(f.greBytes) != 0 {
			t.Errorf("GRE checksum %#04x does not verify", g.Checksum)
		}
		if f.innerEth == nil {
			t.Errorf("GRE packet without an inner Ethernet frame")
			continue
		}
		src, _ := netip.AddrFromSlice(f.outer.SrcIP)
		dst, _ := netip.AddrFromSlice(f.outer.DstIP)
		if f.inner == nil {
			continue // ARP and the like
		}
		isrc, _ := netip.AddrFromSlice(f.inner.SrcIP)
		idst, _ := netip.AddrFromSlice(f.inner.DstIP)
		switch {
		case src == underlay1 && dst == underlay2 && isrc == c1IP && idst == c2IP:
			there++
		case src == underlay2 && dst == underlay1 && isrc == c2IP && idst == c1IP:
			back++
		}
	}
	if there == 0 || back == 0 {
		t.Errorf("of %d GRE packets, %d carry %s->%s from %s and %d carry %s->%s from %s; want both",
			len(frames), there, c1IP, c2IP, underlay1, back, c2IP, c1IP, underlay2)
	}
}

// tcpdumpShows writes pkts as pcap and checks `tcpdump -r FILE -nn` prints want.
func tcpdumpShows(t testing.TB, c *capture.Capture, want ...string) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.WritePcap(&buf); err != nil {
		t.Fatal(err)
	}
	out := nstest.Tcpdump(t, buf.Bytes())
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("tcpdump -r shows no %q:\n%s", w, out)
		}
	}
}

// checkE19 runs the exercise through tunnels made by create and asserts on
// the kernel and the wire; mod adjusts the two configs.
func checkE19(t *testing.T, create func(Config) (Tunnel, error), impl string, mod func(a, b *Config)) (t1, t2 Tunnel) {
	l := newE19(t, 0, 0)
	a, b := tunnelConfigs()
	if mod != nil {
		mod(&a, &b)
	}
	t1 = tunnel(t, l.h1, a, create)
	t2 = tunnel(t, l.h2, b, create)
	if t1.Impl() != impl || t1.Name() != a.Name {
		t.Errorf("tunnel impl %q name %q, want %q %s", t1.Impl(), t1.Name(), impl, a.Name)
	}
	gre0 := nstest.Link(t, l.h1, a.Name)
	wantMTU := 1500 - Overhead(a.Key != nil, a.Checksum)
	if gre0.Attrs().MTU != wantMTU || gre0.Attrs().MasterIndex != nstest.Link(t, l.h1, "docker0").Attrs().Index {
		t.Errorf("gre0: mtu %d master %d, want mtu %d on docker0", gre0.Attrs().MTU, gre0.Attrs().MasterIndex, wantMTU)
	}
	c, err := capture.Start(l.h1, "eth1", capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ping(t, l.c1, c2IP)
	ping(t, l.c2, c1IP)
	pkts, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	wantGRE(t, greOnWire(t, pkts), a.Key, a.Checksum)
	tcpdumpShows(t, c, "IP 192.168.99.101 > 192.168.99.102: GREv0", "IP 172.18.0.2 > 172.17.0.2: ICMP echo request")
	for _, tun := range []Tunnel{t1, t2} {
		s := tun.Stats()
		if s.TxPackets == 0 || s.RxPackets == 0 || s.TxBytes == 0 || s.RxBytes == 0 {
			t.Errorf("%s stats %+v: want traffic both ways", tun.Name(), s)
		}
	}
	return t1, t2
}

func TestE19Userspace(t *testing.T) {
	nstest.NeedRoot(t)
	t.Parallel()
	t1, t2 := checkE19(t, CreateUserspace, ImplUserspace, nil)
	for _, tun := range []Tunnel{t1, t2} {
		if s := tun.Stats(); s.RxErrors != 0 || s.TxErrors != 0 {
			t.Errorf("%s stats %+v: want no errors", tun.Name(), s)
		}
	}
}

func TestE19UserspaceKey(t *testing.T) {
	nstest.NeedRoot(t)
	t.Parallel()
	key := uint32(0x1234abcd)
	checkE19(t, CreateUserspace, ImplUserspace, func(a, b *Config) { a.Key, b.Key = &key, &key })
}

func TestE19UserspaceChecksum(t *testing.T) {
	nstest.NeedRoot(t)
	t.Parallel()
	key := uint32(0) // key 0 is a key: the K bit is set
	checkE19(t, CreateUserspace, ImplUserspace, func(a, b *Config) {
		a.Checksum, b.Checksum = true, true
		a.Key, b.Key = &key, &key
	})
}

// A path whose two ends disagree is broken; the receiving end counts why.
func TestE19UserspaceMismatch(t *testing.T) {
	nstest.NeedRoot(t)
	k1, k2 := uint32(1), uint32(2)
	for _, tc := range []struct {
		name string
		mod  func(a, b *Config)
		drop func(Stats) uint64
	}{
		{"key", func(a, b *Config) { a.Key, b.Key = &k1, &k2 }, func(s Stats) uint64 { return s.RxKeyMismatch }},
		{"key-one-side", func(a, b *Config) { a.Key = &k1 }, func(s Stats) uint64 { return s.RxKeyMismatch }},
		{"checksum-one-side", func(a, b *Config) { a.Checksum = true }, func(s Stats) uint64 { return s.RxChecksum }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newE19(t, 0, 0)
			a, b := tunnelConfigs()
			tc.mod(&a, &b)
			t1 := tunnel(t, l.h1, a, CreateUserspace)
			t2 := tunnel(t, l.h2, b, CreateUserspace)
			noPing(t, l.c1, c2IP)
			if tc.drop(t1.Stats()) == 0 || tc.drop(t2.Stats()) == 0 {
				t.Errorf("drops not counted: h1 %+v, h2 %+v", t1.Stats(), t2.Stats())
			}
			if t1.Stats().RxPackets != 0 || t2.Stats().RxPackets != 0 {
				t.Errorf("frames delivered through mismatched ends: h1 %+v, h2 %+v", t1.Stats(), t2.Stats())
			}
		})
	}
}

// Close removes the link and the path with it.
func TestE19UserspaceClose(t *testing.T) {
	nstest.NeedRoot(t)
	t.Parallel()
	l := newE19(t, 0, 0)
	a, b := tunnelConfigs()
	t1 := tunnel(t, l.h1, a, CreateUserspace)
	tunnel(t, l.h2, b, CreateUserspace)
	ping(t, l.c1, c2IP)
	if err := t1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := nstest.Handle(t, l.h1).LinkByName("gre0"); err == nil {
		t.Fatal("gre0 still exists in h1 after Close")
	}
	noPing(t, l.c1, c2IP)
	if err := t1.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Create picks the kernel's gretap where it exists, the userspace one here.
func TestCreatePicksImplementation(t *testing.T) {
	nstest.NeedRoot(t)
	t.Parallel()
	want := ImplUserspace
	if KernelAvailable() {
		want = ImplKernel
	}
	l := newE19(t, 0, 0)
	a, _ := tunnelConfigs()
	a.Name = "gre1" // free on kernels whose ip_gre makes a fallback gre0
	if tun := tunnel(t, l.h1, a, Create); tun.Impl() != want {
		t.Fatalf("Create made a %s tunnel, want %s (kernel probe: %v)", tun.Impl(), want, KernelProbe())
	}
}

func TestE19Kernel(t *testing.T) {
	nstest.NeedRoot(t)
	if err := KernelProbe(); err != nil {
		t.Skip("kernel has no gretap: " + err.Error())
	}
	t.Parallel()
	// Where the kernel has GRE, ip_gre puts a fallback "gre0" device in
	// every namespace: the kernel's tunnel needs another name.
	rename := func(a, b *Config) { a.Name, b.Name = "gre1", "gre1" }
	checkE19(t, CreateKernel, ImplKernel, rename)
	key := uint32(0x1234abcd)
	checkE19(t, CreateKernel, ImplKernel, func(a, b *Config) {
		rename(a, b)
		a.Key, b.Key = &key, &key
		a.Checksum, b.Checksum = true, true
	})
	l := newE19(t, 0, 0)
	a, b := tunnelConfigs()
	rename(&a, &b)
	k2 := key + 1
	a.Key, b.Key = &key, &k2
	tunnel(t, l.h1, a, CreateKernel)
	tunnel(t, l.h2, b, CreateKernel)
	noPing(t, l.c1, c2IP)
}

// Without gretap in the kernel, CreateKernel says so and leaves nothing.
func TestCreateKernelUnavailable(t *testing.T) {
	nstest.NeedRoot(t)
	if KernelAvailable() {
		t.Skip("the kernel has gretap; TestE19Kernel covers it")
	}
	t.Parallel()
	l := newE19(t, 0, 0)
	a, _ := tunnelConfigs()
	err := netns.Do(l.h1, func() error {
		tun, err := CreateKernel(a)
		if err == nil {
			tun.Close()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "create gretap") {
		t.Fatalf("CreateKernel without gretap: %v", err)
	}
	if _, err := nstest.Handle(t, l.h1).LinkByName(a.Name); err == nil {
		t.Errorf("failed CreateKernel left %s behind", a.Name)
	}
}

// Packets an independent encoder (gopacket) sends from h2's underlay
// address: well-formed ones are delivered, the others dropped and counted
// by reason.
func TestUserspaceReceiveChecks(t *testing.T) {
	nstest.NeedRoot(t)
	t.Parallel()
	l := newE19(t, 0, 0)
	a, _ := tunnelConfigs()
	a.Checksum = true
	t1 := tunnel(t, l.h1, a, CreateUserspace)

	inner := func(payload string) gopacket.SerializableLayer {
		return gopacket.Payload(payload)
	}
	frame := func(g *layers.GRE, et layers.EthernetType, payload string) []byte {
		buf := gopacket.NewSerializeBuffer()
		eth := &layers.Ethernet{
			SrcMAC:       []byte{2, 0, 0, 0, 0, 2},
			DstMAC:       []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
			EthernetType: et,
		}
		ls := []gopacket.SerializableLayer{g, eth, inner(payload)}
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	teb := layers.EthernetTypeTransparentEthernetBridging
	const experimental = layers.EthernetType(0x88b5) // IEEE local experimental
	good := frame(&layers.GRE{ChecksumPresent: true, Protocol: teb}, experimental, "nslab-good-frame")
	badSum := append([]byte(nil), good...)
	badSum[len(badSum)-1] ^= 0xff
	sends := [][]byte{
		good,
		badSum,
		frame(&layers.GRE{Protocol: teb}, experimental, "no checksum"),
		frame(&layers.GRE{ChecksumPresent: true, KeyPresent: true, Key: 7, Protocol: teb}, experimental, "unexpected key"),
		frame(&layers.GRE{ChecksumPresent: true, Protocol: layers.EthernetTypeIPv4}, experimental, "plain GRE"),
		frame(&layers.GRE{ChecksumPresent: true, Version: 1, Protocol: teb}, experimental, "version 1"),
		{0x80, 0x00}, // truncated
	}
	c, err := capture.Start(l.h1, "docker0", capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = netns.Do(l.h2, func() error {
		s, err := openRawGRE(underlay2, underlay1)
		if err != nil {
			return err
		}
		defer s.Close()
		for _, p := range sends {
			if _, err := s.Write(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.Stop()
		t.Fatal(err)
	}
	want := Stats{RxChecksum: 2, RxKeyMismatch: 1, RxWrongProtocol: 1, RxBadHeader: 2, RxErrors: 6}
	deadline := time.Now().Add(3 * time.Second)
	var got Stats
	for time.Now().Before(deadline) {
		got = t1.Stats()
		if got.RxErrors >= want.RxErrors && got.RxPackets >= 1 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	pkts, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if got.RxChecksum != want.RxChecksum || got.RxKeyMismatch != want.RxKeyMismatch ||
		got.RxWrongProtocol != want.RxWrongProtocol || got.RxBadHeader != want.RxBadHeader ||
		got.RxErrors != want.RxErrors || got.RxWrongSource != 0 {
		t.Errorf("drops %+v, want %+v", got, want)
	}
	delivered := 0
	for _, p := range pkts {
		if eth, ok := capture.Decode(p).Layer(layers.LayerTypeEthernet).(*layers.Ethernet); ok && eth.EthernetType == experimental {
			// Ethernet pads the frame to 60 bytes.
			if !bytes.HasPrefix(eth.Payload, []byte("nslab-good-frame")) {
				t.Errorf("frame %q delivered to docker0", eth.Payload)
			}
			delivered++
		}
	}
	if delivered != 1 {
		t.Errorf("%d experimental frames on docker0, want the good one", delivered)
	}
}

// Create validates before it acts and leaves nothing behind on failure.
func TestCreateErrors(t *testing.T) {
	nstest.NeedRoot(t)
	t.Parallel()
	l := newE19(t, 0, 0)
	a, _ := tunnelConfigs()
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"existing link", func(c *Config) { c.Name = "docker0"; c.Bridge = "" }, "exists"},
		{"bridge is a veth", func(c *Config) { c.Bridge = "eth1" }, "not a bridge"},
		{"no such bridge", func(c *Config) { c.Bridge = "nosuchbr" }, "nosuchbr"},
		{"local not ours", func(c *Config) { c.Local = netip.MustParseAddr("192.168.99.200") }, "bind"},
		{"no route to remote", func(c *Config) { c.Remote = netip.MustParseAddr("10.99.0.1") }, "route to 10.99.0.1"},
	} {
		cfg := a
		tc.mod(&cfg)
		err := netns.Do(l.h1, func() error {
			tun, err := CreateUserspace(cfg)
			if err == nil {
				tun.Close()
			}
			return err
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	if _, err := nstest.Handle(t, l.h1).LinkByName("gre0"); err == nil {
		t.Error("a failed Create left gre0 behind")
	}
}
