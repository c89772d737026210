package scenarios

import (
	"fmt"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/netns/capture"
)

// Frame is one captured frame as the specs look at it: its Ethernet and
// IPv4 headers and, for GRE, the header and the frame it carries.
type Frame struct {
	SrcMAC, DstMAC string
	VLAN           int    // 802.1Q id; 0 when untagged
	Src, Dst       string // IPv4 addresses; empty for a frame without IPv4
	Proto          int    // IPv4 protocol (1 ICMP, 47 GRE, ...)
	TotalLen       int    // IPv4 total length
	ICMP           string // "EchoRequest", "EchoReply", ... for ICMP
	ARP            bool
	// GRE is the GRE header of an IPv4 protocol 47 packet, Inner the
	// frame it carries (for 0x6558, an Ethernet frame).
	GRE   *GREHeader
	Inner *Frame
	// UDPDst is the UDP destination port (4789 for VXLAN); VNI the VXLAN
	// network id of a VXLAN packet, whose frame is then Inner.
	UDPDst int
	VNI    *uint32
	// TCPSrc and TCPDst are the ports of a TCP segment (2380 for etcd's
	// peers).
	TCPSrc, TCPDst int
}

// GREHeader is what a spec checks of a GRE header.
type GREHeader struct {
	Protocol uint16 // 0x6558: Transparent Ethernet Bridging
	Key      *uint32
	Checksum bool
}

func (f Frame) String() string {
	s := fmt.Sprintf("%s > %s", f.SrcMAC, f.DstMAC)
	if f.VLAN != 0 {
		s += fmt.Sprintf(" vlan %d", f.VLAN)
	}
	if f.Src != "" {
		s += fmt.Sprintf(" IP %s > %s proto %d len %d %s", f.Src, f.Dst, f.Proto, f.TotalLen, f.ICMP)
	}
	if f.ARP {
		s += " ARP"
	}
	if f.GRE != nil {
		s += fmt.Sprintf(" GRE 0x%04x", f.GRE.Protocol)
	}
	if f.VNI != nil {
		s += fmt.Sprintf(" UDP %d VXLAN %d", f.UDPDst, *f.VNI)
	}
	if f.Inner != nil {
		s += " [" + f.Inner.String() + "]"
	}
	return s
}

// StartCapture records the packets of iface in the namespace at ns until
// StopCapture or the end of the spec.
func StartCapture(ns, iface string) *capture.Capture {
	GinkgoHelper()
	c, err := capture.Start(ns, iface, capture.Options{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { c.Stop() })
	return c
}

// StopCapture ends a capture a moment after the traffic it waits for (a
// reply's frames may still be on their way) and decodes what it saw.
func StopCapture(c *capture.Capture) []Frame {
	GinkgoHelper()
	time.Sleep(100 * time.Millisecond)
	pkts, err := c.Stop()
	Expect(err).NotTo(HaveOccurred())
	var out []Frame
	for _, p := range pkts {
		out = append(out, decodeFrame(capture.Decode(p).Layers()))
	}
	return out
}

// decodeFrame reads the layers of one frame from the outside in; the
// layers after a GRE header make its Inner frame.
func decodeFrame(ls []gopacket.Layer) Frame {
	var f Frame
	for i, l := range ls {
		switch v := l.(type) {
		case *layers.Ethernet:
			f.SrcMAC, f.DstMAC = v.SrcMAC.String(), v.DstMAC.String()
		case *layers.Dot1Q:
			f.VLAN = int(v.VLANIdentifier)
		case *layers.ARP:
			f.ARP = true
		case *layers.IPv4:
			f.Src, f.Dst, f.Proto, f.TotalLen = v.SrcIP.String(), v.DstIP.String(), int(v.Protocol), int(v.Length)
		case *layers.ICMPv4:
			f.ICMP = v.TypeCode.String()
		case *layers.GRE:
			f.GRE = &GREHeader{Protocol: uint16(v.Protocol), Checksum: v.ChecksumPresent}
			if v.KeyPresent {
				k := v.Key
				f.GRE.Key = &k
			}
			inner := decodeFrame(ls[i+1:])
			f.Inner = &inner
			return f
		case *layers.UDP:
			f.UDPDst = int(v.DstPort)
		case *layers.TCP:
			f.TCPSrc, f.TCPDst = int(v.SrcPort), int(v.DstPort)
		case *layers.VXLAN:
			vni := v.VNI
			f.VNI = &vni
			inner := decodeFrame(ls[i+1:])
			f.Inner = &inner
			return f
		}
	}
	return f
}
