package main

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// greFrame is an echo request from 172.17.0.2 to 172.18.0.2 in GRE from
// 192.168.99.102 to .101, as the E19 underlay carries it.
func greFrame(t *testing.T) []byte {
	t.Helper()
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	err := gopacket.SerializeLayers(buf, opts,
		&layers.Ethernet{SrcMAC: mac("02:00:00:00:00:02"), DstMAC: mac("02:00:00:00:00:01"), EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolGRE, SrcIP: net.IPv4(192, 168, 99, 102), DstIP: net.IPv4(192, 168, 99, 101)},
		&layers.GRE{Protocol: layers.EthernetTypeTransparentEthernetBridging, KeyPresent: true, Key: 7},
		&layers.Ethernet{SrcMAC: mac("02:42:ac:11:00:02"), DstMAC: mac("02:42:ac:12:00:02"), EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IPv4(172, 17, 0, 2), DstIP: net.IPv4(172, 18, 0, 2)},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 5, Seq: 1},
		gopacket.Payload([]byte("0123456789abcdef")),
	)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// copyPackets stops at -c: a pcap file of exactly that many packets, or
// as many summary lines, and the capture is told to end.
func TestCopyPacketsCount(t *testing.T) {
	var in bytes.Buffer
	w := pcapgo.NewWriterNanos(&in)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	f := greFrame(t)
	for i := range 5 {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(100, int64(i)), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, write := range []string{"out.pcap", ""} {
		var out bytes.Buffer
		ended := false
		n, err := copyPackets(bytes.NewReader(in.Bytes()), &out, captureFlags{write: write, count: 3}, func() { ended = true })
		if err != nil || n != 3 || !ended {
			t.Fatalf("write %q: %d packets, %v, ended %v", write, n, err, ended)
		}
		if write == "" {
			if lines := strings.Count(out.String(), "\n"); lines != 3 {
				t.Errorf("%d summary lines, want 3:\n%s", lines, out.String())
			}
			continue
		}
		r, err := pcapgo.NewReader(&out)
		if err != nil {
			t.Fatal(err)
		}
		m := 0
		for {
			if _, _, err := r.ReadPacketData(); err != nil {
				break
			}
			m++
		}
		if m != 3 {
			t.Errorf("the pcap holds %d packets, want 3", m)
		}
	}
}
