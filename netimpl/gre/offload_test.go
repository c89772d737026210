package gre

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

// These tests need no privileges: they check the packet code against
// gopacket, an independent encoder and decoder, and a plain RFC 1071 sum.

func TestSumMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 3000; n += 1 + n/10 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if got, want := ^fold(sum(b, 0)), naiveChecksum(b); got != want {
			t.Fatalf("%d bytes: checksum %#04x, want %#04x", n, got, want)
		}
		// Sums chain: an even-length head then the rest.
		h := n / 2 &^ 1
		if got, want := ^fold(sum(b[h:], sum(b[:h], 0))), naiveChecksum(b); got != want {
			t.Fatalf("%d bytes split at %d: checksum %#04x, want %#04x", n, h, got, want)
		}
	}
	all := bytes.Repeat([]byte{0xff}, 4096) // carries on every add
	if got, want := ^fold(sum(all, 0)), naiveChecksum(all); got != want {
		t.Fatalf("all ones: %#04x, want %#04x", got, want)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	frame := bytes.Repeat([]byte{0xab}, 61) // odd length: the checksum pads
	for _, h := range []header{{}, {hasKey: true, key: 0}, {hasKey: true, key: 0xdeadbeef}, {checksum: true}, {checksum: true, hasKey: true, key: 42}} {
		pkt := make([]byte, h.len()+len(frame))
		copy(pkt[h.len():], frame)
		h.put(pkt)
		d := gopacket.NewPacket(pkt, layers.LayerTypeGRE, gopacket.Default)
		g, ok := d.Layer(layers.LayerTypeGRE).(*layers.GRE)
		if !ok {
			t.Fatalf("%+v: gopacket does not decode %x", h, pkt)
		}
		if g.Protocol != layers.EthernetTypeTransparentEthernetBridging || g.Version != 0 ||
			g.KeyPresent != h.hasKey || g.Key != h.key || g.ChecksumPresent != h.checksum || g.SeqPresent || g.RoutingPresent {
			t.Errorf("%+v: gopacket reads %+v", h, g)
		}
		if h.checksum && naiveChecksum(pkt) != 0 {
			t.Errorf("%+v: checksum does not verify", h)
		}
		off, why := h.parse(pkt)
		if why != dropNone || off != h.len() {
			t.Errorf("%+v: parse its own packet: offset %d, drop %d", h, off, why)
		}
	}
	// What the receiving end says when the ends disagree.
	pkt := make([]byte, 8+len(frame))
	copy(pkt[8:], frame)
	header{checksum: true}.put(pkt)
	for _, tc := range []struct {
		rx   header
		want dropReason
	}{
		{header{}, dropChecksum},
		{header{checksum: true, hasKey: true}, dropKeyMismatch},
	} {
		if _, why := tc.rx.parse(pkt); why != tc.want {
			t.Errorf("receiver %+v: drop %d, want %d", tc.rx, why, tc.want)
		}
	}
	pkt[len(pkt)-1] ^= 1
	if _, why := (header{checksum: true}).parse(pkt); why != dropChecksum {
		t.Errorf("corrupted packet: drop %d, want checksum", why)
	}
}

func TestParseIPv4(t *testing.T) {
	remote := [4]byte{192, 168, 99, 102}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolGRE, SrcIP: net.IP(remote[:]), DstIP: net.IPv4(192, 168, 99, 101)}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, gopacket.Payload("gre")); err != nil {
		t.Fatal(err)
	}
	pkt := buf.Bytes()
	if s, e, why := parseIPv4(pkt, remote); why != dropNone || string(pkt[s:e]) != "gre" {
		t.Errorf("parse: %d..%d drop %d", s, e, why)
	}
	if _, _, why := parseIPv4(pkt, [4]byte{10, 0, 0, 1}); why != dropWrongSource {
		t.Errorf("other source: drop %d", why)
	}
	if _, _, why := parseIPv4(pkt[:19], remote); why != dropBadHeader {
		t.Errorf("truncated: drop %d", why)
	}
}

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

// tcpFrame builds an Ethernet/IP/TCP frame with gopacket, with the
// timestamp option Linux sends; the TCP checksum is left as given.
func tcpFrame(t testing.TB, v6 bool, seq uint32, flags string, payload []byte, id uint16) []byte {
	t.Helper()
	tcp := &layers.TCP{
		SrcPort: 40000, DstPort: 5201, Seq: seq, Ack: 777, Window: 512,
		ACK: strings.Contains(flags, "A"), PSH: strings.Contains(flags, "P"), FIN: strings.Contains(flags, "F"),
		SYN: strings.Contains(flags, "S"), CWR: strings.Contains(flags, "C"),
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 1, 0, 0, 0, 2, 0}},
		},
	}
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
	var ip gopacket.SerializableLayer
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}
		tcp.SetNetworkLayerForChecksum(ip6)
		ip = ip6
	} else {
		ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: id, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP,
			SrcIP: net.IPv4(172, 18, 0, 2), DstIP: net.IPv4(172, 17, 0, 2)}
		tcp.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// collector is a frameSink that keeps what it is given.
type collector struct{ frames [][]byte }

func (c *collector) frame(n int) []byte {
	b := make([]byte, n)
	c.frames = append(c.frames, b)
	return b
}

// checkSegment decodes seg with gopacket and verifies both checksums with
// the naive sum.
func checkSegment(t testing.TB, seg []byte) (*layers.TCP, gopacket.Packet) {
	t.Helper()
	d := gopacket.NewPacket(seg, layers.LayerTypeEthernet, gopacket.Default)
	tcp, ok := d.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok {
		t.Fatalf("segment does not decode as TCP: %v", d)
	}
	var pseudo []byte
	if ip4, ok := d.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		if naiveChecksum(ip4.Contents) != 0 {
			t.Errorf("IPv4 header checksum does not verify")
		}
		pseudo = append(append(pseudo, ip4.SrcIP.To4()...), ip4.DstIP.To4()...)
	} else {
		ip6 := d.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		pseudo = append(append(pseudo, ip6.SrcIP...), ip6.DstIP...)
	}
	seglen := len(tcp.Contents) + len(tcp.Payload)
	pseudo = append(pseudo, 0, 6, byte(seglen>>8), byte(seglen))
	whole := append(append(pseudo, tcp.Contents...), tcp.Payload...)
	if naiveChecksum(whole) != 0 {
		t.Errorf("TCP checksum %#04x does not verify (seq %d)", tcp.Checksum, tcp.Seq)
	}
	return tcp, d
}

func superFrame(t testing.TB, v6 bool, flags string, payload []byte, mss int) ([]byte, vnetHdr) {
	f := tcpFrame(t, v6, 1000, flags, payload, 100)
	l4 := 14 + 20
	gso := uint8(unix.VIRTIO_NET_HDR_GSO_TCPV4)
	if v6 {
		l4, gso = 14+40, unix.VIRTIO_NET_HDR_GSO_TCPV6
	}
	// The kernel hands over a partial checksum; put garbage there to prove
	// the segmenter does not depend on it.
	binary.BigEndian.PutUint16(f[l4+16:], 0x1234)
	return f, vnetHdr{flags: unix.VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: gso, hdrLen: uint16(l4 + 32),
		gsoSize: uint16(mss), csumStart: uint16(l4), csumOffset: 16}
}

func TestSegmentTCP(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	payload := make([]byte, 10001)
	for i := range payload {
		payload[i] = byte(r.Uint32())
	}
	const mss = 1448
	for _, v6 := range []bool{false, true} {
		f, vh := superFrame(t, v6, "APC", payload, mss)
		var c collector
		if err := emitFrame(f, &vh, &c); err != nil {
			t.Fatal(err)
		}
		if want := (len(payload) + mss - 1) / mss; len(c.frames) != want {
			t.Fatalf("v6=%v: %d segments, want %d", v6, len(c.frames), want)
		}
		var got []byte
		for i, seg := range c.frames {
			tcp, d := checkSegment(t, seg)
			last := i == len(c.frames)-1
			if tcp.Seq != 1000+uint32(i*mss) || tcp.PSH != last || tcp.CWR != (i == 0) || !tcp.ACK || tcp.Ack != 777 {
				t.Errorf("v6=%v segment %d: seq %d PSH %v CWR %v ACK %v", v6, i, tcp.Seq, tcp.PSH, tcp.CWR, tcp.ACK)
			}
			if !last && len(tcp.Payload) != mss {
				t.Errorf("segment %d carries %d bytes", i, len(tcp.Payload))
			}
			if ip4, ok := d.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok && ip4.Id != 100+uint16(i) {
				t.Errorf("segment %d: IPv4 id %d", i, ip4.Id)
			}
			if len(tcp.Options) != 3 {
				t.Errorf("segment %d lost its options: %v", i, tcp.Options)
			}
			got = append(got, tcp.Payload...)
		}
		if !bytes.Equal(got, payload) {
			t.Errorf("v6=%v: segments do not add up to the payload", v6)
		}
	}
}

func TestCompleteChecksum(t *testing.T) {
	f := tcpFrame(t, false, 1, "AP", []byte("hello, partial checksum"), 1)
	want := binary.BigEndian.Uint16(f[34+16:])
	// CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum.
	binary.BigEndian.PutUint16(f[34+16:], fold(pseudoSum(f[26:30], f[30:34], 6, len(f)-34)))
	vh := vnetHdr{flags: unix.VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: 34, csumOffset: 16}
	var c collector
	if err := emitFrame(f, &vh, &c); err != nil {
		t.Fatal(err)
	}
	if got := binary.BigEndian.Uint16(c.frames[0][34+16:]); got != want {
		t.Fatalf("completed checksum %#04x, want %#04x", got, want)
	}
	vh.csumStart = uint16(len(f))
	if err := emitFrame(f, &vh, &c); err == nil {
		t.Fatal("checksum offset outside the frame accepted")
	}
}

// tapRecorder is a tapWriter that keeps every write.
type tapRecorder struct{ writes [][]byte }

func (r *tapRecorder) writev(parts [][]byte) bool {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	r.writes = append(r.writes, b)
	return true
}

// rx wraps a frame as the receive path has it: outer headers before it.
func rx(frame []byte) rxFrame {
	buf := make([]byte, 24+len(frame))
	copy(buf[24:], frame)
	return rxFrame{buf: buf, start: 24, end: len(buf)}
}

// Segments merged by the coalescer and cut again by the segmenter come
// out as they went in: the two are inverses.
func TestCoalesceInvertsSegment(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 2000) // 32000 bytes, 23 segments
	for _, v6 := range []bool{false, true} {
		// Without CWR: a segment with CWR is delivered alone, as by Linux GRO.
		f, vh := superFrame(t, v6, "AP", payload, 1448)
		var segs collector
		if err := emitFrame(f, &vh, &segs); err != nil {
			t.Fatal(err)
		}
		var rec tapRecorder
		co := newCoalescer(&rec)
		for _, s := range segs.frames {
			co.add(rx(s))
		}
		co.flush()
		if len(rec.writes) != 1 || co.frames != uint64(len(segs.frames)) {
			t.Fatalf("v6=%v: %d writes counting %d frames, want 1 write of %d", v6, len(rec.writes), co.frames, len(segs.frames))
		}
		w := rec.writes[0]
		var got vnetHdr
		got.decode(w)
		if got.gsoType != vh.gsoType || got.gsoSize != 1448 || got.flags != unix.VIRTIO_NET_HDR_F_NEEDS_CSUM ||
			got.csumStart != vh.csumStart || got.csumOffset != 16 || got.hdrLen != vh.hdrLen {
			t.Fatalf("v6=%v: vnet header %+v, want like %+v", v6, got, vh)
		}
		var again collector
		if err := emitFrame(w[vnetHdrLen:], &got, &again); err != nil {
			t.Fatal(err)
		}
		if len(again.frames) != len(segs.frames) {
			t.Fatalf("v6=%v: re-segmented into %d, want %d", v6, len(again.frames), len(segs.frames))
		}
		for i := range segs.frames {
			if !bytes.Equal(again.frames[i], segs.frames[i]) {
				t.Errorf("v6=%v: segment %d differs after merge and re-segmentation", v6, i)
			}
		}
	}
}

// What must not be merged is written alone, in order within its flow.
func TestCoalesceRules(t *testing.T) {
	p := bytes.Repeat([]byte{1}, 100)
	seg := func(seq uint32, flags string) []byte { return tcpFrame(t, false, seq, flags, p, 1) }
	corrupt := seg(300, "A")
	corrupt[len(corrupt)-1] ^= 0xff
	other := seg(100, "A")
	other[14+20+3] ^= 1 // another destination port: another flow
	fixTCPChecksum(other)
	arp := make([]byte, 60)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)

	in := [][]byte{
		seg(100, "A"), seg(200, "A"), // merged
		other,                        // another flow, its own group
		corrupt,                      // bad checksum: the group before it goes, then it alone
		seg(400, "A"), seg(500, "A"), // merged
		seg(700, "A"),                        // a gap: the group before goes first
		tcpFrame(t, false, 800, "A", nil, 1), // pure ACK: not merged, after the group before it
		arp,                                  // not TCP: at once
		seg(800, "AP"),                       // PSH ends a group
		seg(900, "A"),                        // so this one starts a new one
	}
	var rec tapRecorder
	co := newCoalescer(&rec)
	for _, f := range in {
		co.add(rx(f))
	}
	co.flush()
	type write struct {
		seq  uint32
		plen int
	}
	var main []write
	otherSeen := 0
	for _, w := range rec.writes {
		frame := w[vnetHdrLen:]
		if binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
			main = append(main, write{})
			continue
		}
		wr := write{binary.BigEndian.Uint32(frame[34+4:]), int(binary.BigEndian.Uint16(frame[16:])) - 20 - 32}
		if frame[34+3] != in[0][34+3] {
			otherSeen++ // groups of different flows have no order among them
			continue
		}
		main = append(main, wr)
	}
	if otherSeen != 1 {
		t.Errorf("the other flow's segment written %d times", otherSeen)
	}
	want := []write{{100, 200}, {300, 100}, {400, 200}, {700, 100}, {800, 0}, {}, {800, 100}, {900, 100}}
	if len(main) != len(want) {
		t.Fatalf("writes %v, want %v", main, want)
	}
	for i := range main {
		if main[i] != want[i] {
			t.Fatalf("writes %v, want %v", main, want)
		}
	}
	if co.frames != uint64(len(in)) {
		t.Errorf("counted %d frames, want %d", co.frames, len(in))
	}
}

// fixTCPChecksum recomputes the TCP checksum of an untagged IPv4 frame.
func fixTCPChecksum(f []byte) {
	binary.BigEndian.PutUint16(f[34+16:], 0)
	binary.BigEndian.PutUint16(f[34+16:], ^fold(sum(f[34:], pseudoSum(f[26:30], f[30:34], 6, len(f)-34))))
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Name: "gre0", Local: netip.MustParseAddr("192.168.99.101"), Remote: netip.MustParseAddr("192.168.99.102")}
	if err := ok.validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	mapped := ok
	mapped.Remote = netip.MustParseAddr("::ffff:192.168.99.102")
	if err := mapped.validate(); err != nil || !mapped.Remote.Is4() {
		t.Errorf("IPv4-mapped remote: %v", err)
	}
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Name = "" }, "empty"},
		{func(c *Config) { c.Name = "a-very-long-name0" }, "15"},
		{func(c *Config) { c.Name = "gre/0" }, "'/'"},
		{func(c *Config) { c.Bridge = "bad name" }, "bridge"},
		{func(c *Config) { c.Local = netip.Addr{} }, "local address missing"},
		{func(c *Config) { c.Remote = netip.MustParseAddr("fd00::1") }, "IPv4"},
		{func(c *Config) { c.Remote = netip.MustParseAddr("224.0.0.1") }, "unicast"},
		{func(c *Config) { c.Remote = c.Local }, "both"},
		{func(c *Config) { c.MTU = 67 }, "mtu"},
		{func(c *Config) { c.MTU = 70000 }, "mtu"},
	} {
		c := ok
		tc.mod(&c)
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want one mentioning %q", c, err, tc.want)
		}
	}
}
