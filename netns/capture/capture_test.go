package capture

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netns/nstest"
	"github.com/nslab/nslab/netns/probe"
)

var (
	ipA = netip.MustParseAddr("192.168.100.1")
	ipB = netip.MustParseAddr("192.168.100.2")
)

// icmpEchoes returns the echo requests and replies among pkts, checking
// their addresses and (for packets from Stop, not read back from a pcap)
// their direction as seen from a's interface.
func icmpEchoes(t *testing.T, pkts []Packet, direction bool) (requests, replies int) {
	t.Helper()
	for _, p := range pkts {
		d := Decode(p)
		ip, _ := d.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		icmp, _ := d.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if ip == nil || icmp == nil {
			continue
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP)
		dst, _ := netip.AddrFromSlice(ip.DstIP)
		switch icmp.TypeCode.Type() {
		case layers.ICMPv4TypeEchoRequest:
			if src != ipA || dst != ipB || (direction && !p.Outgoing) {
				t.Errorf("echo request %s -> %s outgoing=%v, want %s -> %s outgoing", src, dst, p.Outgoing, ipA, ipB)
			}
			requests++
		case layers.ICMPv4TypeEchoReply:
			if src != ipB || dst != ipA || (direction && p.Outgoing) {
				t.Errorf("echo reply %s -> %s outgoing=%v, want %s -> %s incoming", src, dst, p.Outgoing, ipB, ipA)
			}
			replies++
		}
	}
	return requests, replies
}

// start begins a capture on link of ns.
func start(t *testing.T, ns, link string, o Options) *Capture {
	t.Helper()
	c, err := Start(ns, link, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pingDuring pings dst from ns while c runs, stopping c if it fails.
func pingDuring(t *testing.T, c *Capture, ns string, dst netip.Addr) {
	t.Helper()
	if _, err := probe.Ping(context.Background(), ns, dst, probe.Opts{}); err != nil {
		c.Stop()
		t.Fatal(err)
	}
}

// streamInBackground runs c.Stream into buf; the channel gets its result.
func streamInBackground(c *Capture, buf *bytes.Buffer) <-chan error {
	done := make(chan error, 1)
	go func() { done <- c.Stream(context.Background(), buf) }()
	return done
}

// streamResult waits up to 5 s for the result of a Stream, failing with
// what stalled if it does not come.
func streamResult(t *testing.T, done <-chan error, stalled string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal(stalled)
		return nil
	}
}

// readStreamed decodes the pcap stream in buf back into Ethernet packets.
func readStreamed(t *testing.T, buf *bytes.Buffer) []Packet {
	t.Helper()
	r, err := pcapgo.NewReader(buf)
	if err != nil {
		t.Fatal(err)
	}
	var pkts []Packet
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		pkts = append(pkts, Packet{Data: data, LinkType: layers.LinkTypeEthernet})
	}
	return pkts
}

// linkOf is a handle in ns, closed when the test ends, and its link name.
func linkOf(t *testing.T, ns, name string) (*netlink.Handle, netlink.Link) {
	t.Helper()
	return nstest.Handle(t, ns), nstest.Link(t, ns, name)
}

func TestCapturePing(t *testing.T) {
	a, _ := pair(t)
	if promisc(t, a, "ab") {
		t.Fatal("ab promiscuous before the capture")
	}
	begin := time.Now()
	c := start(t, a, "ab", Options{Promisc: true})
	if !promisc(t, a, "ab") {
		t.Error("ab not promiscuous while capturing with Promisc")
	}
	pingDuring(t, c, a, ipB)
	// Stop right after the reply: what the socket queued must still count.
	pkts, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if promisc(t, a, "ab") {
		t.Error("ab still promiscuous after Stop")
	}
	req, rep := icmpEchoes(t, pkts, true)
	if req < 1 || rep < 1 {
		t.Fatalf("captured %d packets, %d echo requests, %d replies; want both", len(pkts), req, rep)
	}
	for _, p := range pkts {
		if p.Time.Before(begin.Add(-time.Second)) || p.Time.After(time.Now()) {
			t.Errorf("packet time %s outside the capture", p.Time)
		}
		if p.LinkType != layers.LinkTypeEthernet || p.Length != len(p.Data) || p.Ifindex == 0 {
			t.Errorf("packet link type %s, length %d of %d bytes, ifindex %d", p.LinkType, p.Length, len(p.Data), p.Ifindex)
		}
	}

	var buf bytes.Buffer
	if err := c.WritePcap(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("pcap link type %s", r.LinkType())
	}
	n := 0
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, pkts[n].Data) || !ci.Timestamp.Equal(pkts[n].Time) {
			t.Errorf("pcap packet %d differs from the capture", n)
		}
		n++
	}
	if n != len(pkts) {
		t.Errorf("pcap holds %d packets, captured %d", n, len(pkts))
	}
	out := nstest.Tcpdump(t, buf.Bytes())
	for _, want := range []string{"192.168.100.1 > 192.168.100.2: ICMP echo request", "192.168.100.2 > 192.168.100.1: ICMP echo reply"} {
		if !strings.Contains(out, want) {
			t.Errorf("tcpdump -r shows no %q:\n%s", want, out)
		}
	}
}

func TestCaptureSnaplen(t *testing.T) {
	a, b := pair(t)
	ln, err := probe.ListenUDP(b, "192.168.100.2:9999")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := start(t, a, "ab", Options{Snaplen: 64})
	conn, err := probe.DialContext(context.Background(), a, "udp", "192.168.100.2:9999")
	if err != nil {
		c.Stop()
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("x"), 1000)
	// ARP may hold the first datagram back; the last ones go at once.
	for range 3 {
		conn.Write(payload)
		time.Sleep(50 * time.Millisecond)
	}
	conn.Close()
	pkts, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	var udp int
	for _, p := range pkts {
		if len(p.Data) > 64 {
			t.Errorf("packet of %d bytes kept with snap length 64", len(p.Data))
		}
		if p.Length == 14+20+8+1000 {
			udp++
		}
	}
	if udp == 0 {
		t.Fatalf("no packet of the datagrams' length %d among %d", 14+20+8+1000, len(pkts))
	}
	var buf bytes.Buffer
	if err := c.WritePcap(&buf); err != nil {
		t.Fatal(err)
	}
	out := nstest.Tcpdump(t, buf.Bytes(), "udp")
	if !strings.Contains(out, "192.168.100.1.") || !strings.Contains(out, "> 192.168.100.2.9999: UDP, length 1000") {
		t.Errorf("tcpdump -r does not show the truncated datagrams:\n%s", out)
	}
}

func TestCaptureStream(t *testing.T) {
	a, _ := pair(t)
	c := start(t, a, "ab", Options{})
	defer c.Stop()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	streamErr := make(chan error, 1)
	go func() {
		err := c.Stream(ctx, pw)
		pw.CloseWithError(err)
		streamErr <- err
	}()
	r, err := pcapgo.NewReader(pr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := probe.Ping(context.Background(), a, ipB, probe.Opts{}); err != nil {
		t.Fatal(err)
	}
	// The reply is readable from the stream while the capture still runs.
	var seen []Packet
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("stream ended before the echo reply: %v", err)
		}
		seen = append(seen, Packet{Data: data, Length: ci.Length, Time: ci.Timestamp, LinkType: r.LinkType()})
		if _, rep := icmpEchoes(t, seen, false); rep > 0 {
			break
		}
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if err := streamResult(t, streamErr, "Stream did not return after its context ended"); err != nil {
		t.Fatalf("Stream after cancel: %v", err)
	}
	left, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if _, rep := icmpEchoes(t, left, true); rep != 0 {
		t.Errorf("Stop returned %d replies that Stream already wrote", rep)
	}
}

func TestCaptureStreamEndsOnStop(t *testing.T) {
	a, _ := pair(t)
	c := start(t, a, "ab", Options{})
	var buf bytes.Buffer
	done := streamInBackground(c, &buf)
	pingDuring(t, c, a, ipB)
	if _, err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := streamResult(t, done, "Stream did not return after Stop"); err != nil {
		t.Fatal(err)
	}
	pkts := readStreamed(t, &buf)
	if req, rep := icmpEchoes(t, pkts, false); req < 1 || rep < 1 {
		t.Fatalf("streamed %d packets, %d requests, %d replies", len(pkts), req, rep)
	}
}

func TestCaptureErrors(t *testing.T) {
	a, _ := pair(t)
	if _, err := Start(a, "nosuch0", Options{}); err == nil || !strings.Contains(err.Error(), "nosuch0") {
		t.Errorf("unknown interface: %v", err)
	}
	if _, err := Start(prefix+"nosuchns", "ab", Options{}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unknown namespace: %v", err)
	}
	if _, err := Start(a, "ab", Options{Snaplen: -1}); err == nil {
		t.Error("negative snap length accepted")
	}
}

// The loopback is captured as Ethernet with an all-zero header, as tcpdump
// -i lo shows it.
func TestCaptureLoopback(t *testing.T) {
	a, _ := pair(t)
	c := start(t, a, "lo", Options{})
	pingDuring(t, c, a, netip.MustParseAddr("127.0.0.1"))
	pkts, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range pkts {
		if icmp, ok := Decode(p).Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok && icmp.TypeCode.Type() == layers.ICMPv4TypeEchoReply {
			found = true
		}
	}
	if !found {
		t.Fatalf("no echo reply among %d packets on lo", len(pkts))
	}
}

// An interface that goes away ends the capture with an error naming it;
// what was captured before is kept.
func TestCaptureLinkGone(t *testing.T) {
	a, _ := pair(t)
	c := start(t, a, "ab", Options{})
	pingDuring(t, c, a, ipB)
	h, l := linkOf(t, a, "ab")
	if err := h.LinkDel(l); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	done := streamInBackground(c, &buf)
	if err := streamResult(t, done, "Stream still running after its interface went away"); err == nil || !strings.Contains(err.Error(), "capture ab") {
		t.Errorf("Stream after the link went: %v", err)
	}
	if _, err := c.Stop(); err == nil {
		t.Error("Stop reports no error after the interface went away")
	}
	pkts := readStreamed(t, &buf)
	if req, rep := icmpEchoes(t, pkts, false); req < 1 || rep < 1 {
		t.Errorf("streamed %d packets captured before the link went, %d requests, %d replies", len(pkts), req, rep)
	}
}

// A link that goes down and up again keeps its capture: what crosses it
// after the flap is recorded too.
func TestCaptureLinkFlap(t *testing.T) {
	a, _ := pair(t)
	c := start(t, a, "ab", Options{})
	h, l := linkOf(t, a, "ab")
	if err := h.LinkSetDown(l); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := h.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	pingDuring(t, c, a, ipB)
	pkts, err := c.Stop()
	if err != nil {
		t.Fatalf("capture ended by a link flap: %v", err)
	}
	if req, rep := icmpEchoes(t, pkts, true); req < 1 || rep < 1 {
		t.Fatalf("after the flap: %d packets, %d requests, %d replies", len(pkts), req, rep)
	}
}
