package dns

import (
	"errors"
	"net"
	"net/netip"

	mdns "github.com/miekg/dns"
)

// udpReadSize bounds a query read over UDP. A query is one question and
// perhaps an OPT record; miekg's own server reads only 512 bytes.
const udpReadSize = 4096

// udpWorker is the scratch space of one UDP reader, reused for every
// query so that the fast path allocates next to nothing.
type udpWorker struct {
	in   [udpReadSize]byte
	out  []byte
	name [maxWireName]byte
	pick []netip.Addr
}

// serveUDP reads queries until the socket is closed. The common lookup is
// answered on this goroutine; anything that needs unpacking, or may wait
// for an upstream, goes to a goroutine of its own.
func (s *Server) serveUDP() {
	defer s.wg.Done()
	w := &udpWorker{out: make([]byte, 0, defaultRespSize), pick: make([]netip.Addr, 0, maxFastAnswers)}
	for {
		n, from, err := s.udp.ReadFromUDPAddrPort(w.in[:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		q := w.in[:n]
		if resp, ok := s.fastAnswer(w, q); ok {
			s.udp.WriteToUDPAddrPort(resp, from)
			continue
		}
		q = append([]byte(nil), q...)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if resp := s.respond(q, "udp"); resp != nil {
				s.udp.WriteToUDPAddrPort(resp, from)
			}
		}()
	}
}

// fastAnswer answers q from the table when it is the common lookup of a
// known name; ok is false for anything the general path must decide.
func (s *Server) fastAnswer(w *udpWorker, q []byte) (resp []byte, ok bool) {
	fq, ok := parseFast(q, &w.name)
	if !ok {
		return nil, false
	}
	all := s.table.Lookup(string(fq.name))
	if len(all) == 0 {
		return nil, false // unknown: forwarded, or the ndots answer
	}
	pick := pickFamily(w.pick[:0], all, fq.qtype == mdns.TypeA)
	// A for a name with IPv6 addresses only is forwarded by Docker
	// (ResolveName finds no IPv4 and no "ipv6Miss"); AAAA for a name
	// without IPv6 is answered empty, below.
	if fq.qtype == mdns.TypeA && len(pick) == 0 {
		return nil, false
	}
	if len(pick) > maxFastAnswers || fastSize(fq, len(pick)) > fq.maxSize {
		return nil, false // the general path truncates
	}
	shuffle(pick)
	w.out = appendFastAnswer(w.out[:0], q, fq, pick)
	return w.out, true
}

// respond is the general path for a query read off the wire: it checks
// the header as miekg's server does, unpacks and answers. nil means no
// answer is sent.
func (s *Server) respond(q []byte, proto string) []byte {
	if len(q) < headerLen {
		return nil // miekg: "let client hang, they are sending crap"
	}
	hdr := mdns.Header{
		Id: uint16(q[0])<<8 | uint16(q[1]), Bits: uint16(q[2])<<8 | uint16(q[3]),
		Qdcount: uint16(q[4])<<8 | uint16(q[5]), Ancount: uint16(q[6])<<8 | uint16(q[7]),
		Nscount: uint16(q[8])<<8 | uint16(q[9]), Arcount: uint16(q[10])<<8 | uint16(q[11]),
	}
	action := mdns.DefaultMsgAcceptFunc(hdr)
	if action == mdns.MsgIgnore {
		return nil
	}
	msg := new(mdns.Msg)
	if action == mdns.MsgAccept {
		if err := msg.Unpack(q); err == nil {
			return s.answer(msg, q, proto)
		}
	}
	return rejectAnswer(hdr, action)
}

// rejectAnswer is what miekg's server sends for a query it refuses to
// unpack: FORMERR, or NOTIMP for an opcode other than QUERY and NOTIFY.
func rejectAnswer(hdr mdns.Header, action mdns.MsgAcceptAction) []byte {
	m := new(mdns.Msg)
	m.Id = hdr.Id
	m.RecursionDesired = hdr.Bits&flagRD != 0
	m.CheckingDisabled = hdr.Bits&flagCD != 0
	m.SetRcodeFormatError(m)
	if action == mdns.MsgRejectNotImplemented {
		m.Opcode = int(hdr.Bits>>opcodeShift) & 0xF
		m.Rcode = mdns.RcodeNotImplemented
	}
	b, err := m.Pack()
	if err != nil {
		return nil
	}
	return b
}
