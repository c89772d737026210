package gre

import "encoding/binary"

// GRE header flag bits (RFC 2784, RFC 2890), in the first 16-bit word.
const (
	flagChecksum = 0x8000
	flagRouting  = 0x4000
	flagKey      = 0x2000
	flagSeq      = 0x1000
	versionMask  = 0x0007

	baseGREHeaderLen = 4
	maxGREHeaderLen  = 16 // checksum + key + sequence, the most a peer may send
)

// greHeaderLen is the length of the header this end sends: no sequence
// numbers, as the kernel and Open vSwitch send by default.
func greHeaderLen(key, checksum bool) int {
	n := baseGREHeaderLen
	if checksum {
		n += 4
	}
	if key {
		n += 4
	}
	return n
}

// header is the GRE header one tunnel puts before every frame.
type header struct {
	key      uint32
	hasKey   bool
	checksum bool
}

func (h header) len() int { return greHeaderLen(h.hasKey, h.checksum) }

// put writes the header into b[:h.len()] for the GRE packet b (header and
// payload); with checksums on, the payload must already be in place since
// the checksum covers header and payload.
func (h header) put(b []byte) {
	var flags uint16
	off := baseGREHeaderLen
	if h.checksum {
		flags |= flagChecksum
		binary.BigEndian.PutUint32(b[off:], 0) // checksum and reserved1, zero while summing
		off += 4
	}
	if h.hasKey {
		flags |= flagKey
		binary.BigEndian.PutUint32(b[off:], h.key)
	}
	binary.BigEndian.PutUint16(b[0:], flags)
	binary.BigEndian.PutUint16(b[2:], ProtoTEB)
	if h.checksum {
		binary.BigEndian.PutUint16(b[4:], ^fold(sum(b, 0)))
	}
}

// dropReason says why a received packet is not delivered; dropNone means it is.
type dropReason int

const (
	dropNone dropReason = iota
	dropWrongSource
	dropBadHeader
	dropWrongProtocol
	dropKeyMismatch
	dropChecksum
)

// parseIPv4 checks the outer IPv4 header of a packet read from the raw
// socket (the kernel has already reassembled fragments) and returns where
// the GRE packet it carries begins and ends.
func parseIPv4(pkt []byte, remote [4]byte) (start, end int, why dropReason) {
	if len(pkt) < ipv4HeaderLen || pkt[0]>>4 != 4 {
		return 0, 0, dropBadHeader
	}
	ihl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	if ihl < ipv4HeaderLen || total < ihl || total > len(pkt) || pkt[9] != IPProtoGRE {
		return 0, 0, dropBadHeader
	}
	if [4]byte(pkt[12:16]) != remote {
		return 0, 0, dropWrongSource
	}
	return ihl, total, dropNone
}

// parse checks a received GRE packet against the tunnel's header settings
// the way the kernel's gre_parse_header and ip_tunnel_rcv do, and returns the
// offset of the inner Ethernet frame.
func (h header) parse(g []byte) (int, dropReason) {
	if len(g) < baseGREHeaderLen {
		return 0, dropBadHeader
	}
	flags := binary.BigEndian.Uint16(g)
	if flags&(versionMask|flagRouting) != 0 {
		return 0, dropBadHeader
	}
	off := baseGREHeaderLen
	hasCsum := flags&flagChecksum != 0
	hasKey := flags&flagKey != 0
	if hasCsum {
		off += 4
	}
	keyOff := off
	if hasKey {
		off += 4
	}
	if flags&flagSeq != 0 {
		off += 4 // accepted and ignored, as by a kernel tunnel without iseq
	}
	if len(g) < off+ethHeaderLen {
		return 0, dropBadHeader
	}
	if hasCsum != h.checksum || (hasCsum && fold(sum(g, 0)) != 0xffff) {
		return 0, dropChecksum
	}
	if hasKey != h.hasKey || (hasKey && binary.BigEndian.Uint32(g[keyOff:]) != h.key) {
		return 0, dropKeyMismatch
	}
	if binary.BigEndian.Uint16(g[2:]) != ProtoTEB {
		return 0, dropWrongProtocol
	}
	return off, dropNone
}
