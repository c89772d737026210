package gre

import (
	"encoding/binary"
	"math/bits"
)

// The Internet checksum (RFC 1071) of IPv4, TCP, UDP and GRE headers. It is
// on the hot path of every segmented or coalesced frame, so the main loop
// adds 64-bit words with end-around carry; by the byte-order independence of
// the ones' complement sum the little-endian words fold to the byte-swapped
// 16-bit sum, which is swapped back at the end.

// sum adds the 16-bit big-endian words of b (an odd last byte is the high
// half of a word) to acc. b must start at an even offset of the summed
// region. The result is unfolded; fold it before use.
func sum(b []byte, acc uint32) uint32 {
	var s, c uint64
	for len(b) >= 32 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[8:]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[16:]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b), c)
		b = b[8:]
	}
	s += c // cannot overflow again: c <= 1 and s < 2^64-1 after a carry
	// Fold the little-endian sum to 16 bits and swap it to big-endian.
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	acc += uint32(bits.ReverseBytes16(uint16(s)))
	for len(b) >= 2 {
		acc += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	return acc
}

// fold reduces an unfolded sum to 16 bits.
func fold(acc uint32) uint16 {
	acc = (acc >> 16) + (acc & 0xffff)
	acc = (acc >> 16) + (acc & 0xffff)
	return uint16(acc)
}

// pseudoSum is the sum of the TCP/UDP pseudo-header: addresses, protocol
// and the transport length. src and dst are 4 or 16 bytes.
func pseudoSum(src, dst []byte, proto uint8, length int) uint32 {
	acc := sum(src, 0)
	acc = sum(dst, acc)
	return acc + uint32(proto) + uint32(length)
}
