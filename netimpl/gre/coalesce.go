package gre

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// Receive offload (GRO) in userspace. The segments of one TCP flow that
// arrive in one batch from the raw socket are merged into a super-frame
// and written to the TAP once, with a virtio header asking the kernel to
// treat it as a GSO packet (as a NIC's LRO/GRO would). Everything behind
// the TAP (bridge, veth, the container's TCP) then handles one packet instead
// of up to 64. The merge rules are the kernel's tcp_gro_receive: the same
// flow, contiguous sequence numbers, identical headers except sequence,
// checksum, PSH and window, equal segment sizes with at most a shorter last
// one, only ACK (and PSH on the last) set, and a valid checksum on each.

const (
	maxGroups   = 8  // flows merged at once within a batch
	maxGroupSeg = 64 // segments in one super-frame
	maxIPLen    = 65535
	tcpFlagACK  = 0x10
)

// tapWriter writes one frame, vnet header first, gathered from parts, and
// says whether the TAP took it.
type tapWriter interface {
	writev(parts [][]byte) bool
}

// rxFrame is an inner frame inside a receive buffer; buf has at least
// vnetHdrLen bytes of room before start (the consumed outer headers).
type rxFrame struct {
	buf        []byte
	start, end int
}

func (f *rxFrame) bytes() []byte { return f.buf[f.start:f.end] }

// tcpSeg is what the merge rules need to know about a TCP segment.
type tcpSeg struct {
	v4             bool
	l3, l4, hdrLen int
	plen           int // payload bytes (from the IP length: Ethernet pads short frames)
	seq            uint32
	flags          byte
}

// parseTCP parses frame as an untagged Ethernet + IPv4 (no options, not a
// fragment) or IPv6 (no extension headers) + TCP segment. ok is false for
// anything else; mergeable says whether the segment may join a super-frame.
func parseTCP(frame []byte) (s tcpSeg, ok, mergeable bool) {
	if len(frame) < ethHeaderLen+ipv4HeaderLen+20 {
		return s, false, false
	}
	s.l3 = ethHeaderLen
	var ipEnd int
	switch binary.BigEndian.Uint16(frame[12:]) {
	case etherTypeIPv4:
		ip := frame[s.l3:]
		if ip[0] != 0x45 || ip[9] != ipProtoTCP || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return s, false, false
		}
		s.v4 = true
		s.l4 = s.l3 + ipv4HeaderLen
		ipEnd = s.l3 + int(binary.BigEndian.Uint16(ip[2:]))
	case etherTypeIPv6:
		if len(frame) < s.l3+40+20 {
			return s, false, false
		}
		ip := frame[s.l3:]
		if ip[0]>>4 != 6 || ip[6] != ipProtoTCP {
			return s, false, false
		}
		s.l4 = s.l3 + 40
		ipEnd = s.l4 + int(binary.BigEndian.Uint16(ip[4:]))
	default:
		return s, false, false
	}
	if ipEnd > len(frame) || s.l4+20 > ipEnd {
		return s, false, false
	}
	tcp := frame[s.l4:]
	thl := int(tcp[12]>>4) * 4
	s.hdrLen = s.l4 + thl
	if thl < 20 || s.hdrLen > ipEnd {
		return s, false, false
	}
	s.plen = ipEnd - s.hdrLen
	s.seq = binary.BigEndian.Uint32(tcp[4:])
	s.flags = tcp[13]
	mergeable = s.plen > 0 && s.flags&^tcpFlagPSH == tcpFlagACK &&
		fold(sum(frame[s.l4:ipEnd], s.pseudo(frame, ipEnd-s.l4))) == 0xffff
	return s, true, mergeable
}

func (s *tcpSeg) addrs(frame []byte) (src, dst []byte) {
	if s.v4 {
		return frame[s.l3+12 : s.l3+16], frame[s.l3+16 : s.l3+20]
	}
	return frame[s.l3+8 : s.l3+24], frame[s.l3+24 : s.l3+40]
}

func (s *tcpSeg) pseudo(frame []byte, tcpLen int) uint32 {
	src, dst := s.addrs(frame)
	return pseudoSum(src, dst, ipProtoTCP, tcpLen)
}

// sameFlow says whether a and b (parsed from fa and fb) belong to one TCP
// flow: same addresses and ports.
func sameFlow(a *tcpSeg, fa []byte, b *tcpSeg, fb []byte) bool {
	if a.v4 != b.v4 {
		return false
	}
	as, ad := a.addrs(fa)
	bs, bd := b.addrs(fb)
	return bytes.Equal(as, bs) && bytes.Equal(ad, bd) &&
		bytes.Equal(fa[a.l4:a.l4+4], fb[b.l4:b.l4+4])
}

// group is one super-frame being built: the head frame, whose headers are
// rewritten in place, and the payloads of the segments that follow it.
type group struct {
	head     rxFrame
	seg      tcpSeg
	payloads [][]byte
	total    int // payload bytes of all segments, head included
	nextSeq  uint32
	closed   bool // a shorter or PSH segment ended it
	window   [2]byte
	push     bool
}

// coalescer merges the frames of one receive batch.
type coalescer struct {
	out    tapWriter
	groups [maxGroups]group
	n      int
	iov    [][]byte
	frames uint64 // inner frames written (segments count one each)
	bytes  uint64
	failed uint64 // inner frames the TAP refused
}

func newCoalescer(out tapWriter) *coalescer {
	c := &coalescer{out: out, iov: make([][]byte, 0, maxGroupSeg+1)}
	for i := range c.groups {
		c.groups[i].payloads = make([][]byte, 0, maxGroupSeg)
	}
	return c
}

// add takes the next frame of the batch.
func (c *coalescer) add(f rxFrame) {
	frame := f.bytes()
	s, isTCP, mergeable := parseTCP(frame)
	if !isTCP {
		c.writeSingle(f, 0)
		return
	}
	for i := 0; i < c.n; i++ {
		g := &c.groups[i]
		hf := g.head.bytes()
		if !sameFlow(&g.seg, hf, &s, frame) {
			continue
		}
		if mergeable && g.canAppend(&s, frame) {
			g.append(&s, frame)
			return
		}
		// Same flow, cannot merge: what came before must leave first.
		c.flushGroup(i)
		break
	}
	if !mergeable {
		c.writeSingle(f, 0)
		return
	}
	if c.n == maxGroups {
		c.flushGroup(0)
	}
	g := &c.groups[c.n]
	c.n++
	g.head, g.seg = f, s
	g.payloads = g.payloads[:0]
	g.total = s.plen
	g.nextSeq = s.seq + uint32(s.plen)
	g.push = s.flags&tcpFlagPSH != 0
	g.closed = g.push
	copy(g.window[:], frame[s.l4+14:s.l4+16])
}

func (g *group) canAppend(s *tcpSeg, frame []byte) bool {
	h := &g.seg
	hf := g.head.bytes()
	if g.closed || len(g.payloads)+1 >= maxGroupSeg || s.seq != g.nextSeq || s.plen > h.plen ||
		s.hdrLen != h.hdrLen || s.l4 != h.l4 || h.hdrLen-h.l3+g.total+s.plen > maxIPLen {
		return false
	}
	// Ethernet addresses and type.
	if !bytes.Equal(hf[:h.l3], frame[:s.l3]) {
		return false
	}
	ip, hip := frame[s.l3:], hf[h.l3:]
	if h.v4 {
		// TOS, DF, TTL.
		if ip[1] != hip[1] || ip[6]&0x40 != hip[6]&0x40 || ip[8] != hip[8] {
			return false
		}
	} else if !bytes.Equal(ip[:4], hip[:4]) || ip[7] != hip[7] {
		return false // traffic class, flow label, hop limit
	}
	tcp, htcp := frame[s.l4:s.hdrLen], hf[h.l4:h.hdrLen]
	// Acknowledgment number and options must be identical.
	return bytes.Equal(tcp[8:12], htcp[8:12]) && bytes.Equal(tcp[20:], htcp[20:])
}

func (g *group) append(s *tcpSeg, frame []byte) {
	g.payloads = append(g.payloads, frame[s.hdrLen:s.hdrLen+s.plen])
	g.total += s.plen
	g.nextSeq += uint32(s.plen)
	copy(g.window[:], frame[s.l4+14:s.l4+16])
	if s.flags&tcpFlagPSH != 0 {
		g.push = true
		g.closed = true
	}
	if s.plen < g.seg.plen {
		g.closed = true
	}
}

// flush writes every open group; called at the end of a batch.
func (c *coalescer) flush() {
	for i := 0; i < c.n; i++ {
		c.writeGroup(&c.groups[i])
	}
	c.n = 0
}

// flushGroup writes group i and closes its slot. Groups of different flows
// need no order among themselves, so the last group moves into the slot (a
// swap, which keeps every slot's payload array its own).
func (c *coalescer) flushGroup(i int) {
	c.writeGroup(&c.groups[i])
	c.n--
	c.groups[i], c.groups[c.n] = c.groups[c.n], c.groups[i]
}

func (c *coalescer) writeGroup(g *group) {
	if len(g.payloads) == 0 {
		// Checked in parseTCP: the kernel need not verify it again.
		c.writeSingle(g.head, unix.VIRTIO_NET_HDR_F_DATA_VALID)
		return
	}
	c.writeMerged(g)
}

func (c *coalescer) writeSingle(f rxFrame, flags uint8) {
	vh := vnetHdr{flags: flags}
	b := f.buf[f.start-vnetHdrLen : f.end]
	vh.encode(b)
	c.iov = append(c.iov[:0], b)
	if !c.out.writev(c.iov) {
		c.failed++
		return
	}
	c.frames++
	c.bytes += uint64(f.end - f.start)
}

func (c *coalescer) writeMerged(g *group) {
	s := &g.seg
	frame := g.head.bytes()
	ipLen := s.hdrLen - s.l3 + g.total
	if s.v4 {
		ip := frame[s.l3:s.l4]
		binary.BigEndian.PutUint16(ip[2:], uint16(ipLen))
		binary.BigEndian.PutUint16(ip[10:], 0)
		binary.BigEndian.PutUint16(ip[10:], ^fold(sum(ip, 0)))
	} else {
		binary.BigEndian.PutUint16(frame[s.l3+4:], uint16(ipLen-40))
	}
	tcp := frame[s.l4:s.hdrLen]
	if g.push {
		tcp[13] |= tcpFlagPSH
	}
	copy(tcp[14:16], g.window[:])
	// A partial checksum: the pseudo-header sum, which the kernel completes
	// (or trusts, when the super-frame is delivered locally as one packet).
	binary.BigEndian.PutUint16(tcp[16:], fold(s.pseudo(frame, s.hdrLen-s.l4+g.total)))
	gso := uint8(unix.VIRTIO_NET_HDR_GSO_TCPV4)
	if !s.v4 {
		gso = unix.VIRTIO_NET_HDR_GSO_TCPV6
	}
	vh := vnetHdr{
		flags:      unix.VIRTIO_NET_HDR_F_NEEDS_CSUM,
		gsoType:    gso,
		hdrLen:     uint16(s.hdrLen),
		gsoSize:    uint16(s.plen),
		csumStart:  uint16(s.l4),
		csumOffset: 16,
	}
	head := g.head.buf[g.head.start-vnetHdrLen : g.head.start+s.hdrLen+s.plen]
	vh.encode(head)
	c.iov = append(c.iov[:0], head)
	c.iov = append(c.iov, g.payloads...)
	if !c.out.writev(c.iov) {
		c.failed += uint64(len(g.payloads) + 1)
		return
	}
	c.frames += uint64(len(g.payloads) + 1)
	c.bytes += uint64(len(g.payloads)+1)*uint64(s.hdrLen) + uint64(g.total)
}
