package gre

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
	etherTypeVLAN = 0x8100
	ipProtoTCP    = 6

	tcpFlagFIN = 0x01
	tcpFlagPSH = 0x08
	tcpFlagCWR = 0x80
)

// frameSink hands out room for one outgoing inner frame of n bytes, or nil
// when a frame that big can never be sent.
type frameSink interface {
	frame(n int) []byte
}

// emitFrame turns one frame read from the TAP (vnet header stripped into
// vh) into the frames that go on the wire: a TCP super-frame is cut into
// segments, a frame with a partial checksum gets its checksum completed.
func emitFrame(frame []byte, vh *vnetHdr, sink frameSink) error {
	if len(frame) < ethHeaderLen {
		return fmt.Errorf("frame of %d bytes", len(frame))
	}
	switch vh.gsoType &^ unix.VIRTIO_NET_HDR_GSO_ECN {
	case unix.VIRTIO_NET_HDR_GSO_NONE:
		out := sink.frame(len(frame))
		if out == nil {
			return fmt.Errorf("frame of %d bytes too big", len(frame))
		}
		copy(out, frame)
		if vh.flags&unix.VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 {
			return completeChecksum(out, int(vh.csumStart), int(vh.csumOffset))
		}
		return nil
	case unix.VIRTIO_NET_HDR_GSO_TCPV4, unix.VIRTIO_NET_HDR_GSO_TCPV6:
		return segmentTCP(frame, vh, sink)
	default:
		return fmt.Errorf("unsupported GSO type %#x", vh.gsoType)
	}
}

// completeChecksum finishes a partial checksum (CHECKSUM_PARTIAL): the field
// at start+offset holds the pseudo-header sum, the rest is summed from start.
func completeChecksum(frame []byte, start, offset int) error {
	if start+offset+2 > len(frame) || start < ethHeaderLen {
		return fmt.Errorf("checksum at %d+%d outside a %d-byte frame", start, offset, len(frame))
	}
	c := ^fold(sum(frame[start:], 0))
	if c == 0 {
		c = 0xffff // a zero UDP checksum means "none"; ones' complement has two zeros
	}
	binary.BigEndian.PutUint16(frame[start+offset:], c)
	return nil
}

// l3Header finds the network header of an Ethernet frame (one VLAN tag
// allowed) and returns its offset and ether type.
func l3Header(frame []byte) (int, uint16) {
	et := binary.BigEndian.Uint16(frame[12:])
	if et == etherTypeVLAN && len(frame) >= ethHeaderLen+4 {
		return ethHeaderLen + 4, binary.BigEndian.Uint16(frame[16:])
	}
	return ethHeaderLen, et
}

var errBadTSO = errors.New("malformed TCP super-frame")

// segmentTCP cuts a TCP super-frame into segments of vh.gsoSize payload
// bytes, as the kernel's tcp_gso_segment does: each segment carries a copy of
// the headers with its own IP length (and IPv4 id + i and header checksum),
// its sequence number, FIN and PSH only on the last and CWR only on the first
// segment, and a complete TCP checksum.
func segmentTCP(frame []byte, vh *vnetHdr, sink frameSink) error {
	l3, et := l3Header(frame)
	l4 := int(vh.csumStart)
	mss := int(vh.gsoSize)
	if mss == 0 || l4 <= l3 || l4+20 > len(frame) {
		return errBadTSO
	}
	v4 := et == etherTypeIPv4
	switch {
	case v4:
		if l3+ipv4HeaderLen > l4 || frame[l3]>>4 != 4 || int(frame[l3]&0x0f)*4 != l4-l3 || frame[l3+9] != ipProtoTCP {
			return errBadTSO
		}
	case et == etherTypeIPv6:
		if l3+40 > l4 || frame[l3]>>4 != 6 {
			return errBadTSO
		}
	default:
		return errBadTSO
	}
	thl := int(frame[l4+12]>>4) * 4
	hdrLen := l4 + thl
	if thl < 20 || hdrLen > len(frame) {
		return errBadTSO
	}
	var src, dst []byte
	if v4 {
		src, dst = frame[l3+12:l3+16], frame[l3+16:l3+20]
	} else {
		src, dst = frame[l3+8:l3+24], frame[l3+24:l3+40]
	}
	payload := frame[hdrLen:]
	id := binary.BigEndian.Uint16(frame[l3+4:])
	seq := binary.BigEndian.Uint32(frame[l4+4:])
	flags := frame[l4+13]
	for i, off := 0, 0; off < len(payload) || i == 0; i, off = i+1, off+mss {
		end := min(off+mss, len(payload))
		out := sink.frame(hdrLen + end - off)
		if out == nil {
			return fmt.Errorf("segment of %d bytes too big", hdrLen+end-off)
		}
		copy(out, frame[:hdrLen])
		copy(out[hdrLen:], payload[off:end])
		if v4 {
			ip := out[l3:l4]
			binary.BigEndian.PutUint16(ip[2:], uint16(len(out)-l3))
			binary.BigEndian.PutUint16(ip[4:], id+uint16(i))
			binary.BigEndian.PutUint16(ip[10:], 0)
			binary.BigEndian.PutUint16(ip[10:], ^fold(sum(ip, 0)))
		} else {
			binary.BigEndian.PutUint16(out[l3+4:], uint16(len(out)-l3-40))
		}
		tcp := out[l4:]
		binary.BigEndian.PutUint32(tcp[4:], seq+uint32(off))
		f := flags
		if end < len(payload) {
			f &^= tcpFlagFIN | tcpFlagPSH
		}
		if i > 0 {
			f &^= tcpFlagCWR
		}
		tcp[13] = f
		binary.BigEndian.PutUint16(tcp[16:], 0)
		binary.BigEndian.PutUint16(tcp[16:], ^fold(sum(tcp, pseudoSum(src, dst, ipProtoTCP, len(tcp)))))
	}
	return nil
}
