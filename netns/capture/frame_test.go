package capture

import (
	"net"
	"strconv"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func mac(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }

// greFrame is an echo request from 172.17.0.2 to 172.18.0.2 in GRE from
// 192.168.99.102 to .101, as the E19 underlay carries it.
func greFrame(t *testing.T) []byte {
	t.Helper()
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

// A GRE packet: the outer headers, the GRE header, and the frame it
// carries as Inner; String is the line `nslab capture` prints.
func TestSummarizeGRE(t *testing.T) {
	data := greFrame(t)
	f := Summarize(Packet{Data: data, Length: len(data), LinkType: layers.LinkTypeEthernet})
	if f.Src != "192.168.99.102" || f.Proto != 47 || f.GRE == nil || f.GRE.Protocol != 0x6558 || f.GRE.Key == nil || *f.GRE.Key != 7 || f.GRE.Checksum {
		t.Errorf("outer: %+v", f)
	}
	if in := f.Inner; in == nil || in.SrcMAC != "02:42:ac:11:00:02" || in.Src != "172.17.0.2" || in.Dst != "172.18.0.2" ||
		in.ICMP != "EchoRequest" || in.ICMPID != 5 || in.TotalLen != 44 {
		t.Errorf("inner: %+v", f.Inner)
	}
	want := "02:00:00:00:00:02 > 02:00:00:00:00:01, IP 192.168.99.102 > 192.168.99.101 proto GRE (47) ttl 64, GRE proto 0x6558 key 7, " +
		"02:42:ac:11:00:02 > 02:42:ac:12:00:02, IP 172.17.0.2 > 172.18.0.2 proto ICMPv4 (1) ttl 64, ICMP EchoRequest id 5 seq 1, length " + strconv.Itoa(len(data))
	if got := f.String(); got != want {
		t.Errorf("summary\n got %s\nwant %s", got, want)
	}
	cut := Summarize(Packet{Data: data[:40], Length: len(data), LinkType: layers.LinkTypeEthernet})
	if cut.Undecoded == "" {
		t.Errorf("a cut frame: %s", cut)
	}
}

// A VXLAN packet carries its frame as Inner, with the VNI; ARP and TCP
// are summarised as tcpdump writes them.
func TestSummarizeVXLANARPTCP(t *testing.T) {
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4(192, 168, 8, 150), DstIP: net.IPv4(192, 168, 8, 148)}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 4789}
	udp.SetNetworkLayerForChecksum(ip)
	err := gopacket.SerializeLayers(buf, opts,
		&layers.Ethernet{SrcMAC: mac("02:00:00:00:00:02"), DstMAC: mac("02:00:00:00:00:01"), EthernetType: layers.EthernetTypeIPv4},
		ip, udp, &layers.VXLAN{ValidIDFlag: true, VNI: 256},
		&layers.Ethernet{SrcMAC: mac("02:42:0a:00:00:02"), DstMAC: mac("ff:ff:ff:ff:ff:ff"), EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: mac("02:42:0a:00:00:02"), SourceProtAddress: []byte{10, 0, 0, 2},
			DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 0, 3}},
	)
	if err != nil {
		t.Fatal(err)
	}
	f := Summarize(Packet{Data: buf.Bytes(), LinkType: layers.LinkTypeEthernet})
	if f.UDPDst != 4789 || f.VNI == nil || *f.VNI != 256 || f.Inner == nil || !f.Inner.ARP || f.Inner.ARPInfo != "who-has 10.0.0.3 tell 10.0.0.2" {
		t.Errorf("vxlan: %+v inner %+v", f, f.Inner)
	}

	buf = gopacket.NewSerializeBuffer()
	ip = &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IPv4(10, 0, 0, 2), DstIP: net.IPv4(10, 0, 0, 3)}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 2380, SYN: true, ACK: true, Seq: 9}
	tcp.SetNetworkLayerForChecksum(ip)
	if err := gopacket.SerializeLayers(buf, opts, ip, tcp); err != nil {
		t.Fatal(err)
	}
	f = Summarize(Packet{Data: buf.Bytes(), LinkType: layers.LinkTypeRaw})
	if f.TCPDst != 2380 || f.TCPFlags != "S." || f.SrcMAC != "" || f.String() != "IP 10.0.0.2 > 10.0.0.3 proto TCP (6) ttl 64, TCP 40000 > 2380 [S.] seq 9 len 0, length 40" {
		t.Errorf("tcp: %s %+v", f, f)
	}
}
