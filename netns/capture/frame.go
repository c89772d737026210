package capture

import (
	"fmt"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Frame is one captured frame summarised from its link layer in: the
// headers `nslab capture` prints and tests look at. The frame a tunnel
// carries (GRE's Ethernet frame, VXLAN's) is Inner; String prints it all
// on one line, like tcpdump -e.
type Frame struct {
	SrcMAC, DstMAC string // empty for a frame without Ethernet (a TUN's)
	VLAN           int    // 802.1Q id; 0 when untagged
	ARP            bool
	ARPInfo        string // "who-has 10.0.0.3 tell 10.0.0.2", "reply 10.0.0.3 is-at MAC"
	// Src and Dst are the IPv4 addresses, empty for a frame without IPv4;
	// Src6 and Dst6 the IPv6 ones.
	Src, Dst   string
	Src6, Dst6 string
	Proto      int // IPv4 protocol (1 ICMP, 6 TCP, 17 UDP, 47 GRE, ...)
	TTL        int
	TotalLen   int    // IPv4 total length
	ICMP       string // "EchoRequest", "EchoReply", ... for ICMP
	ICMPID     int
	ICMPSeq    int
	// GRE is the GRE header of an IPv4 protocol 47 packet.
	GRE *GREHeader
	// UDPSrc and UDPDst are a UDP datagram's ports (4789 for VXLAN); VNI
	// the VXLAN network id of a VXLAN packet.
	UDPSrc, UDPDst int
	VNI            *uint32
	// TCPSrc and TCPDst are a TCP segment's ports (2380 for etcd's
	// peers), TCPFlags its flags as tcpdump writes them ("S", "S.", "P.").
	TCPSrc, TCPDst int
	TCPFlags       string
	TCPSeq         uint32
	// Payload is the length of the UDP or TCP payload.
	Payload int
	// Inner is the frame a GRE or VXLAN packet carries.
	Inner *Frame
	// Length is the frame's length on the wire (outermost frame only).
	Length int
	// Undecoded says why the decoder stopped early, if it did.
	Undecoded string
	// layers are the one-line summaries of the layers up to Inner.
	layers []string
}

// GREHeader is what a test checks of a GRE header.
type GREHeader struct {
	Protocol uint16 // 0x6558: Transparent Ethernet Bridging
	Key      *uint32
	Checksum bool
}

// Summarize decodes p from its link layer up.
func Summarize(p Packet) Frame {
	pkt := Decode(p)
	f := summarize(pkt.Layers())
	f.Length = max(p.Length, len(p.Data))
	if e := pkt.ErrorLayer(); e != nil {
		f.Undecoded = e.Error().Error()
	}
	return f
}

// summarize reads the layers of one frame from the outside in; the layers
// after a GRE or VXLAN header make its Inner frame.
func summarize(ls []gopacket.Layer) Frame {
	var f Frame
	for i, l := range ls {
		if tunnel := f.add(l); tunnel {
			inner := summarize(ls[i+1:])
			f.Inner = &inner
			return f
		}
	}
	return f
}

// add takes one layer into f; it says whether the layer is a tunnel's
// header, after which the carried frame begins.
func (f *Frame) add(l gopacket.Layer) (tunnel bool) {
	switch v := l.(type) {
	case *layers.Ethernet:
		f.SrcMAC, f.DstMAC = v.SrcMAC.String(), v.DstMAC.String()
		f.summary("%s > %s", v.SrcMAC, v.DstMAC)
	case *layers.Dot1Q:
		f.VLAN = int(v.VLANIdentifier)
		f.summary("vlan %d", v.VLANIdentifier)
	case *layers.ARP:
		f.ARP, f.ARPInfo = true, arpInfo(v)
		f.summary("ARP %s", f.ARPInfo)
	case *layers.IPv4:
		f.Src, f.Dst, f.Proto, f.TTL, f.TotalLen = v.SrcIP.String(), v.DstIP.String(), int(v.Protocol), int(v.TTL), int(v.Length)
		f.summary("IP %s > %s proto %s (%d) ttl %d", v.SrcIP, v.DstIP, v.Protocol, uint8(v.Protocol), v.TTL)
	case *layers.IPv6:
		f.Src6, f.Dst6 = v.SrcIP.String(), v.DstIP.String()
		f.summary("IP6 %s > %s", v.SrcIP, v.DstIP)
	case *layers.ICMPv4:
		f.ICMP, f.ICMPID, f.ICMPSeq = v.TypeCode.String(), int(v.Id), int(v.Seq)
		f.summary("ICMP %s id %d seq %d", v.TypeCode, v.Id, v.Seq)
	case *layers.TCP:
		f.TCPSrc, f.TCPDst, f.TCPFlags, f.TCPSeq, f.Payload = int(v.SrcPort), int(v.DstPort), tcpFlags(v), v.Seq, len(v.Payload)
		flags := ""
		if f.TCPFlags != "" {
			flags = " [" + f.TCPFlags + "]"
		}
		f.summary("TCP %d > %d%s seq %d len %d", v.SrcPort, v.DstPort, flags, v.Seq, len(v.Payload))
	case *layers.UDP:
		f.UDPSrc, f.UDPDst, f.Payload = int(v.SrcPort), int(v.DstPort), len(v.Payload)
		f.summary("UDP %d > %d len %d", v.SrcPort, v.DstPort, len(v.Payload))
	case *layers.GRE:
		f.GRE = &GREHeader{Protocol: uint16(v.Protocol), Checksum: v.ChecksumPresent}
		s := fmt.Sprintf("GRE proto 0x%04x", uint16(v.Protocol))
		if v.KeyPresent {
			k := v.Key
			f.GRE.Key = &k
			s += fmt.Sprintf(" key %d", v.Key)
		}
		if v.ChecksumPresent {
			s += " csum"
		}
		f.summary("%s", s)
		return true
	case *layers.VXLAN:
		vni := v.VNI
		f.VNI = &vni
		f.summary("VXLAN vni %d", v.VNI)
		return true
	}
	return false
}

func (f *Frame) summary(format string, args ...any) {
	f.layers = append(f.layers, fmt.Sprintf(format, args...))
}

// String describes the frame in one line, its layers from the outside in,
// like tcpdump -e: for a GRE packet the outer Ethernet and IP header, the
// GRE header, then the Ethernet frame it carries.
func (f Frame) String() string {
	parts := f.strings()
	if f.Length > 0 {
		return fmt.Sprintf("%s, length %d", strings.Join(parts, ", "), f.Length)
	}
	return strings.Join(parts, ", ")
}

func (f Frame) strings() []string {
	parts := append([]string(nil), f.layers...)
	if f.Inner != nil {
		parts = append(parts, f.Inner.strings()...)
	}
	if f.Undecoded != "" {
		parts = append(parts, "[undecoded: "+f.Undecoded+"]")
	}
	return parts
}

func arpInfo(v *layers.ARP) string {
	if v.Operation == layers.ARPReply {
		return fmt.Sprintf("reply %s is-at %s", ipString(v.SourceProtAddress), macString(v.SourceHwAddress))
	}
	return fmt.Sprintf("who-has %s tell %s", ipString(v.DstProtAddress), ipString(v.SourceProtAddress))
}

// tcpFlags writes a segment's flags as tcpdump does: S, F, R, P, then "."
// for ACK.
func tcpFlags(t *layers.TCP) string {
	var f string
	for _, x := range []struct {
		on bool
		c  string
	}{{t.SYN, "S"}, {t.FIN, "F"}, {t.RST, "R"}, {t.PSH, "P"}, {t.ACK, "."}} {
		if x.on {
			f += x.c
		}
	}
	return f
}

func ipString(b []byte) string {
	if len(b) != 4 {
		return fmt.Sprintf("%x", b)
	}
	return fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], b[2], b[3])
}

func macString(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02x", x)
	}
	return strings.Join(parts, ":")
}
