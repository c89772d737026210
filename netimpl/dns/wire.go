package dns

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"

	mdns "github.com/miekg/dns"
)

// The fast path reads and writes DNS messages directly (RFC 1035 4.1).
// It handles exactly the shape that a container's stub resolver sends for a
// name lookup and declines everything else, which the general path then
// answers: the two paths must give the same answer for any query the fast
// path accepts (wire_test.go compares them).

const (
	headerLen   = 12
	flagQR      = 1 << 15
	flagTC      = 1 << 9
	flagRD      = 1 << 8
	flagRA      = 1 << 7
	flagCD      = 1 << 4
	opcodeShift = 11
	maxWireName = 255 // RFC 1035 2.3.4: a name is at most 255 octets on the wire
	// maxFastAnswers bounds the records built on the fast path; a larger
	// set would not fit 512 bytes anyway and goes to the general path.
	maxFastAnswers = 64
)

// fastQuery is a query the fast path accepted.
type fastQuery struct {
	name    []byte // canonical: lower case, no trailing dot
	qtype   uint16 // A or AAAA
	qEnd    int    // end of the question section in the query
	maxSize int    // largest answer the client takes over UDP
}

// parseFast accepts a query of one question for A or AAAA in class IN,
// with no answer or authority records and at most one additional record,
// which must be an EDNS OPT; a name of plain labels (letters, digits,
// hyphen, underscore) without compression. The canonical name is written
// into buf.
func parseFast(q []byte, buf *[maxWireName]byte) (fastQuery, bool) {
	var fq fastQuery
	if len(q) < headerLen+1+4 {
		return fq, false
	}
	flags := binary.BigEndian.Uint16(q[2:])
	if flags&flagQR != 0 || flags&flagTC != 0 || (flags>>opcodeShift)&0xF != mdns.OpcodeQuery {
		return fq, false
	}
	qd, an, ns, ar := binary.BigEndian.Uint16(q[4:]), binary.BigEndian.Uint16(q[6:]),
		binary.BigEndian.Uint16(q[8:]), binary.BigEndian.Uint16(q[10:])
	if qd != 1 || an != 0 || ns != 0 || ar > 1 {
		return fq, false
	}
	off, n := headerLen, 0
	for {
		if off >= len(q) {
			return fq, false
		}
		l := int(q[off])
		off++
		if l == 0 {
			break
		}
		// l > 63 is a compression pointer or an extended label type.
		if l > 63 || off+l > len(q) || off+l-headerLen >= maxWireName {
			return fq, false
		}
		if n > 0 {
			buf[n] = '.'
			n++
		}
		for _, c := range q[off : off+l] {
			switch {
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			default:
				// Other bytes are escaped in presentation form: leave
				// them to the general path, which escapes as miekg does.
				return fq, false
			}
			buf[n] = c
			n++
		}
		off += l
	}
	if n == 0 || off+4 > len(q) {
		return fq, false
	}
	fq.name = buf[:n]
	fq.qtype = binary.BigEndian.Uint16(q[off:])
	if binary.BigEndian.Uint16(q[off+2:]) != mdns.ClassINET ||
		(fq.qtype != mdns.TypeA && fq.qtype != mdns.TypeAAAA) {
		return fq, false
	}
	fq.qEnd = off + 4
	fq.maxSize = defaultRespSize
	if ar == 0 {
		return fq, fq.qEnd == len(q)
	}
	// The OPT record: root name, type, class = UDP payload size, TTL =
	// extended rcode and flags, then its options (RFC 6891 6.1.2).
	o := fq.qEnd
	if o+11 > len(q) || q[o] != 0 || binary.BigEndian.Uint16(q[o+1:]) != mdns.TypeOPT {
		return fq, false
	}
	if o+11+int(binary.BigEndian.Uint16(q[o+9:])) != len(q) {
		return fq, false
	}
	if size := int(binary.BigEndian.Uint16(q[o+3:])); size > fq.maxSize {
		fq.maxSize = size
	}
	return fq, true
}

// fastSize is the length of the answer to fq with n records of one family.
func fastSize(fq fastQuery, n int) int {
	rdlen := 4
	if fq.qtype == mdns.TypeAAAA {
		rdlen = 16
	}
	// Each record: a pointer to the question's name, type, class, TTL,
	// RDLENGTH, RDATA.
	return fq.qEnd + n*(2+2+2+4+2+rdlen)
}

// appendFastAnswer appends to out the answer to query q (accepted as fq)
// with addrs, all of fq's family, in the order given. The header is
// Docker's: the query's id, QR and RA set, RD and CD copied, not
// authoritative, NOERROR; the question is the query's, byte for byte; no
// OPT record, as Docker's answers have none.
func appendFastAnswer(out, q []byte, fq fastQuery, addrs []netip.Addr) []byte {
	flags := flagQR | flagRA | binary.BigEndian.Uint16(q[2:])&(flagRD|flagCD)
	out = append(out, q[0], q[1])
	out = binary.BigEndian.AppendUint16(out, flags)
	out = binary.BigEndian.AppendUint16(out, 1)
	out = binary.BigEndian.AppendUint16(out, uint16(len(addrs)))
	out = append(out, 0, 0, 0, 0) // NSCOUNT, ARCOUNT
	out = append(out, q[headerLen:fq.qEnd]...)
	for _, a := range addrs {
		out = append(out, 0xC0, headerLen) // the name at offset 12
		out = binary.BigEndian.AppendUint16(out, fq.qtype)
		out = binary.BigEndian.AppendUint16(out, mdns.ClassINET)
		out = binary.BigEndian.AppendUint32(out, respTTL)
		if a.Is4() {
			b := a.As4()
			out = binary.BigEndian.AppendUint16(out, 4)
			out = append(out, b[:]...)
		} else {
			b := a.As16()
			out = binary.BigEndian.AppendUint16(out, 16)
			out = append(out, b[:]...)
		}
	}
	return out
}

// shuffle puts addrs in random order in place, as Docker's shuffleAddr
// does for every answer with several addresses.
func shuffle(addrs []netip.Addr) {
	for i := len(addrs) - 1; i > 0; i-- {
		j := rand.IntN(i + 1)
		addrs[i], addrs[j] = addrs[j], addrs[i]
	}
}

// pickFamily appends to dst the addresses of all that are IPv4 (v4) or
// IPv6 (!v4).
func pickFamily(dst, all []netip.Addr, v4 bool) []netip.Addr {
	for _, a := range all {
		if a.Is4() == v4 {
			dst = append(dst, a)
		}
	}
	return dst
}
