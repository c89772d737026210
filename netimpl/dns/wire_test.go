package dns

import (
	"net/netip"
	"slices"
	"testing"

	mdns "github.com/miekg/dns"
)

// testTable is the E07 picture on network br1: web (alias frontend, short
// id 749bbbea2172) and two containers sharing the alias "backend", one of
// them with IPv6 too; v6only has no IPv4 address.
func testTable(t testing.TB) *MemTable {
	t.Helper()
	tb := NewTable()
	a := netip.MustParseAddr
	sets := map[string][]Record{
		"ep-web": {
			{Name: "web", Addr: a("172.18.0.2")}, {Name: "web.br1", Addr: a("172.18.0.2"), PTR: true},
			{Name: "frontend", Addr: a("172.18.0.2")}, {Name: "749bbbea2172", Addr: a("172.18.0.2")},
		},
		"ep-api": {
			{Name: "api", Addr: a("172.18.0.3")}, {Name: "api.br1", Addr: a("172.18.0.3"), PTR: true},
			{Name: "backend", Addr: a("172.18.0.3")},
		},
		"ep-api2": {
			{Name: "api2", Addr: a("172.18.0.4")}, {Name: "api2", Addr: a("fd00:18::4")},
			{Name: "api2.br1", Addr: a("172.18.0.4"), PTR: true}, {Name: "api2.br1", Addr: a("fd00:18::4"), PTR: true},
			{Name: "backend", Addr: a("172.18.0.4")}, {Name: "backend", Addr: a("fd00:18::4")},
			{Name: "under_score", Addr: a("172.18.0.4")},
		},
		"ep-v6": {{Name: "v6only", Addr: a("fd00:18::9")}},
	}
	for _, owner := range []string{"ep-web", "ep-api", "ep-api2", "ep-v6"} {
		if err := tb.Set(owner, sets[owner]...); err != nil {
			t.Fatal(err)
		}
	}
	return tb
}

func query(name string, qtype uint16, edns uint16, mod func(*mdns.Msg)) (*mdns.Msg, []byte) {
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	if mod != nil {
		mod(m)
	}
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return m, b
}

// sameAnswer compares two answers ignoring compression and record order.
func sameAnswer(t *testing.T, what string, fast, general *mdns.Msg) {
	t.Helper()
	if fast.MsgHdr != general.MsgHdr {
		t.Errorf("%s: header fast %+v, general %+v", what, fast.MsgHdr, general.MsgHdr)
	}
	if !slices.Equal(fast.Question, general.Question) {
		t.Errorf("%s: question fast %v, general %v", what, fast.Question, general.Question)
	}
	rrs := func(m *mdns.Msg) []string {
		var s []string
		for _, rr := range m.Answer {
			s = append(s, rr.String())
		}
		slices.Sort(s)
		return s
	}
	if f, g := rrs(fast), rrs(general); !slices.Equal(f, g) {
		t.Errorf("%s: answers fast %v, general %v", what, f, g)
	}
	if len(fast.Extra) != len(general.Extra) || len(fast.Ns) != len(general.Ns) {
		t.Errorf("%s: extra/authority differ: fast %v %v, general %v %v", what, fast.Ns, fast.Extra, general.Ns, general.Extra)
	}
}

// The fast path must answer exactly as the general path for every query
// it accepts.
func TestFastPathMatchesGeneralPath(t *testing.T) {
	s := &Server{table: testTable(t)}
	w := &udpWorker{}
	cases := []struct {
		name  string
		qtype uint16
		edns  uint16
		mod   func(*mdns.Msg)
	}{
		{"web.", mdns.TypeA, 0, nil},
		{"WeB.", mdns.TypeA, 0, nil},
		{"web.br1.", mdns.TypeA, 0, nil},
		{"749bbbea2172.", mdns.TypeA, 0, nil},
		{"frontend.", mdns.TypeA, 1232, nil},
		{"backend.", mdns.TypeA, 0, nil},
		{"backend.", mdns.TypeAAAA, 0, nil},
		{"web.", mdns.TypeAAAA, 0, nil}, // known, no IPv6: empty NOERROR
		{"under_score.", mdns.TypeA, 0, nil},
		{"web.", mdns.TypeA, 0, func(m *mdns.Msg) { m.RecursionDesired = false }},
		{"web.", mdns.TypeA, 0, func(m *mdns.Msg) { m.CheckingDisabled = true; m.AuthenticatedData = true }},
		{"v6only.", mdns.TypeAAAA, 0, nil},
	}
	for _, c := range cases {
		q, wire := query(c.name, c.qtype, c.edns, c.mod)
		fastWire, ok := s.fastAnswer(w, wire)
		if !ok {
			t.Errorf("%s %s: fast path declined", c.name, mdns.Type(c.qtype))
			continue
		}
		fast := new(mdns.Msg)
		if err := fast.Unpack(fastWire); err != nil {
			t.Fatalf("%s: fast answer does not unpack: %v", c.name, err)
		}
		general := new(mdns.Msg)
		if err := general.Unpack(s.answer(q, wire, "udp")); err != nil {
			t.Fatal(err)
		}
		sameAnswer(t, c.name+" "+mdns.Type(c.qtype).String(), fast, general)
		if fast.Authoritative || !fast.RecursionAvailable || fast.Rcode != mdns.RcodeSuccess {
			t.Errorf("%s: flags %+v, want RA, not AA, NOERROR", c.name, fast.MsgHdr)
		}
		for _, rr := range fast.Answer {
			if rr.Header().Ttl != respTTL || rr.Header().Name != c.name {
				t.Errorf("%s: record %v, want TTL 600 and the name as asked", c.name, rr)
			}
		}
	}
}

// The fast path declines what it does not handle; the general path
// decides those.
func TestFastPathDeclines(t *testing.T) {
	s := &Server{table: testTable(t)}
	w := &udpWorker{}
	many := NewTable()
	var recs []Record
	for i := 1; i <= 40; i++ {
		recs = append(recs, Record{Name: "crowd", Addr: netip.AddrFrom4([4]byte{172, 18, 1, byte(i)})})
	}
	if err := many.Set("crowd", recs...); err != nil {
		t.Fatal(err)
	}
	crowd := &Server{table: many}
	_, twoQ := query("web.", mdns.TypeA, 0, func(m *mdns.Msg) {
		m.Question = append(m.Question, mdns.Question{Name: "api.", Qtype: mdns.TypeA, Qclass: mdns.ClassINET})
	})
	_, chaos := query("web.", mdns.TypeA, 0, func(m *mdns.Msg) { m.Question[0].Qclass = mdns.ClassCHAOS })
	_, unknown := query("nope.example.", mdns.TypeA, 0, nil)
	_, txt := query("web.", mdns.TypeTXT, 0, nil)
	_, v6A := query("v6only.", mdns.TypeA, 0, nil)
	_, escaped := query(`we\.b.`, mdns.TypeA, 0, nil)
	_, response := query("web.", mdns.TypeA, 0, func(m *mdns.Msg) { m.Response = true })
	_, big := query("crowd.", mdns.TypeA, 0, nil)
	for what, q := range map[string][]byte{
		"two questions": twoQ, "class CH": chaos, "unknown": unknown, "TXT": txt,
		"A of v6-only": v6A, "escaped label": escaped, "response": response,
		"short": unknown[:11], "trailing bytes": append(append([]byte(nil), unknown...), 0),
	} {
		if _, ok := s.fastAnswer(w, q); ok {
			t.Errorf("%s: fast path answered", what)
		}
	}
	if _, ok := crowd.fastAnswer(w, big); ok {
		t.Errorf("40 addresses in 512 bytes: fast path answered")
	}
	// The general path truncates it, with TC, within 512 bytes.
	q := new(mdns.Msg)
	q.Unpack(big)
	b := crowd.answer(q, big, "udp")
	resp := new(mdns.Msg)
	if err := resp.Unpack(b); err != nil {
		t.Fatal(err)
	}
	if !resp.Truncated || len(b) > 512 || len(resp.Answer) == 0 || len(resp.Answer) >= 40 {
		t.Errorf("truncated answer: TC %v, %d bytes, %d records", resp.Truncated, len(b), len(resp.Answer))
	}
	// Over TCP the whole set fits.
	if err := resp.Unpack(crowd.answer(q, big, "tcp")); err != nil || len(resp.Answer) != 40 || resp.Truncated {
		t.Errorf("over tcp: %d records, TC %v, %v", len(resp.Answer), resp.Truncated, err)
	}
}

func TestParsePTR(t *testing.T) {
	for name, want := range map[string]string{
		"2.0.18.172.in-addr.arpa": "172.18.0.2",
		"4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.1.0.0.0.0.d.f.ip6.arpa": "fd00:18::4",
		"0.18.172.in-addr.arpa":     "",
		"256.0.18.172.in-addr.arpa": "",
		"web.br1":                   "",
		"x.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.1.0.0.0.0.d.f.ip6.arpa": "",
	} {
		a, ok := parsePTR(name)
		got := ""
		if ok {
			got = a.String()
		}
		if got != want {
			t.Errorf("parsePTR(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestRejectedQueries(t *testing.T) {
	s := &Server{table: NewTable()}
	_, twoQ := query("web.", mdns.TypeA, 0, func(m *mdns.Msg) {
		m.Question = append(m.Question, mdns.Question{Name: "api.", Qtype: mdns.TypeA, Qclass: mdns.ClassINET})
	})
	resp := new(mdns.Msg)
	if err := resp.Unpack(s.respond(twoQ, "udp")); err != nil || resp.Rcode != mdns.RcodeFormatError {
		t.Errorf("two questions: rcode %d, %v; want FORMERR", resp.Rcode, err)
	}
	_, upd := query("web.", mdns.TypeA, 0, func(m *mdns.Msg) { m.Opcode = mdns.OpcodeUpdate })
	if err := resp.Unpack(s.respond(upd, "udp")); err != nil || resp.Rcode != mdns.RcodeNotImplemented {
		t.Errorf("update: rcode %d, %v; want NOTIMP", resp.Rcode, err)
	}
	_, r := query("web.", mdns.TypeA, 0, func(m *mdns.Msg) { m.Response = true })
	if b := s.respond(r, "udp"); b != nil {
		t.Errorf("a response got an answer")
	}
	// No upstream: SERVFAIL straight away.
	q, wire := query("nope.example.", mdns.TypeA, 0, nil)
	if err := resp.Unpack(s.answer(q, wire, "udp")); err != nil || resp.Rcode != mdns.RcodeServerFailure || resp.Id != q.Id {
		t.Errorf("no upstream: rcode %d id %d, %v; want SERVFAIL id %d", resp.Rcode, resp.Id, err, q.Id)
	}
}

// The fast path of a known name allocates only the name string handed to
// the table.
func TestFastPathAllocations(t *testing.T) {
	s := &Server{table: testTable(t)}
	w := &udpWorker{out: make([]byte, 0, 512), pick: make([]netip.Addr, 0, maxFastAnswers)}
	_, q := query("backend.", mdns.TypeA, 0, nil)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, ok := s.fastAnswer(w, q); !ok {
			t.Fatal("declined")
		}
	})
	if allocs > 1 {
		t.Errorf("%v allocations per fast answer, want at most 1", allocs)
	}
}
