package dns

import (
	"net/netip"
	"strings"

	mdns "github.com/miekg/dns"
)

// serveTCP is the handler of the TCP server: the general path, with
// answers framed by miekg.
func (s *Server) serveTCP(w mdns.ResponseWriter, q *mdns.Msg) {
	if resp := s.answer(q, nil, "tcp"); resp != nil {
		w.Write(resp)
	}
}

// answer answers q (wire is its packed form when it came off a UDP socket,
// nil otherwise) from the table, or else from the upstreams, following
// libnetwork's resolver.ServeDNS. It returns the packed answer, or nil to
// send nothing.
func (s *Server) answer(q *mdns.Msg, wire []byte, proto string) []byte {
	if len(q.Question) == 0 {
		return nil // resolver.go: no question, no answer
	}
	maxSize := mdns.MaxMsgSize - 1
	if proto == "udp" {
		maxSize = defaultRespSize
		if opt := q.IsEdns0(); opt != nil && int(opt.UDPSize()) > maxSize {
			maxSize = int(opt.UDPSize())
		}
	}
	if resp := s.local(q); resp != nil {
		if resp.Len() > maxSize {
			truncate(resp, maxSize, proto == "tcp")
		}
		return pack(resp)
	}
	if wire == nil {
		var err error
		if wire, err = q.Pack(); err != nil {
			return nil
		}
	}
	if resp := s.forward(wire, proto); resp != nil {
		return resp
	}
	// Nothing to forward to, or nobody answered: see doc.go for why this
	// is SERVFAIL rather than Docker 20.10's silence.
	return pack(new(mdns.Msg).SetRcode(q, mdns.RcodeServerFailure))
}

// local answers q from the table, or returns nil when it must be
// forwarded.
func (s *Server) local(q *mdns.Msg) *mdns.Msg {
	question := q.Question[0]
	name := Canonical(question.Name)
	switch question.Qtype {
	case mdns.TypeA, mdns.TypeAAAA:
		all := s.table.Lookup(name)
		v4 := question.Qtype == mdns.TypeA
		addrs := pickFamily(nil, all, v4)
		if len(addrs) > 0 || (!v4 && len(all) > 0) {
			shuffle(addrs)
			return addrAnswer(q, addrs)
		}
		// ndots set by the user: a single label is not sent out, so that
		// the client tries its search domains.
		if s.ndotsSet && !strings.Contains(name, ".") {
			return reply(q)
		}
	case mdns.TypeMX:
		// A known name has no MX: NOERROR and no records, so that mail
		// clients fall back to its address (RFC 5321 5.1, handleMXQuery).
		if len(s.table.Lookup(name)) > 0 {
			return reply(q)
		}
	case mdns.TypePTR:
		if a, ok := parsePTR(name); ok {
			if names := s.table.Reverse(a); len(names) > 0 {
				resp := reply(q)
				resp.Answer = append(resp.Answer, &mdns.PTR{
					Hdr: mdns.RR_Header{Name: question.Name, Rrtype: mdns.TypePTR, Class: mdns.ClassINET, Ttl: respTTL},
					Ptr: mdns.Fqdn(names[0]),
				})
				return resp
			}
		}
	}
	return nil
}

// reply is Docker's createRespMsg: a NOERROR answer to q with RA set.
func reply(q *mdns.Msg) *mdns.Msg {
	resp := new(mdns.Msg).SetReply(q)
	resp.RecursionAvailable = true
	resp.Compress = true
	return resp
}

// addrAnswer answers q with addrs, A or AAAA records named as asked.
func addrAnswer(q *mdns.Msg, addrs []netip.Addr) *mdns.Msg {
	resp := reply(q)
	name := q.Question[0].Name
	for _, a := range addrs {
		if a.Is4() {
			resp.Answer = append(resp.Answer, &mdns.A{
				Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: respTTL},
				A:   a.AsSlice(),
			})
		} else {
			resp.Answer = append(resp.Answer, &mdns.AAAA{
				Hdr:  mdns.RR_Header{Name: name, Rrtype: mdns.TypeAAAA, Class: mdns.ClassINET, Ttl: respTTL},
				AAAA: a.AsSlice(),
			})
		}
	}
	return resp
}

// truncate drops answer records from the end until resp fits maxSize,
// setting TC over UDP so that the client asks again over TCP (Docker's
// truncateResp).
func truncate(resp *mdns.Msg, maxSize int, isTCP bool) {
	if !isTCP {
		resp.Truncated = true
	}
	for resp.Len() > maxSize && len(resp.Answer) > 0 {
		resp.Answer = resp.Answer[:len(resp.Answer)-1]
	}
}

func pack(m *mdns.Msg) []byte {
	b, err := m.Pack()
	if err != nil {
		return nil
	}
	return b
}

// parsePTR turns the owner name of a reverse query (canonical form, e.g.
// "2.0.18.172.in-addr.arpa" or 32 nibbles + "ip6.arpa") into the address
// it asks for. Partial names (a whole subnet) are not addresses.
func parsePTR(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		parts := strings.Split(rest, ".")
		if len(parts) != 4 {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(parts[3] + "." + parts[2] + "." + parts[1] + "." + parts[0])
		return a, err == nil
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		parts := strings.Split(rest, ".")
		if len(parts) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, p := range parts {
			if len(p) != 1 {
				return netip.Addr{}, false
			}
			v, ok := hexNibble(p[0])
			if !ok {
				return netip.Addr{}, false
			}
			// parts[0] is the lowest nibble of the last byte.
			byteIdx := 15 - i/2
			if i%2 == 0 {
				b[byteIdx] |= v
			} else {
				b[byteIdx] |= v << 4
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

func hexNibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
