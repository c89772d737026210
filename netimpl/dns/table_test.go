package dns

import (
	"net/netip"
	"slices"
	"sync"
	"testing"
)

func TestMemTable(t *testing.T) {
	tb := testTable(t)
	a := netip.MustParseAddr
	if got := tb.Lookup("backend"); !slices.Equal(got, []netip.Addr{a("172.18.0.3"), a("172.18.0.4"), a("fd00:18::4")}) {
		t.Errorf("backend: %v", got)
	}
	if got := tb.Lookup("nope"); got != nil {
		t.Errorf("nope: %v", got)
	}
	if got := tb.Reverse(a("172.18.0.2")); !slices.Equal(got, []string{"web.br1"}) {
		t.Errorf("reverse .2: %v", got)
	}
	// Aliases do not answer PTR.
	if got := tb.Reverse(a("172.18.0.9")); got != nil {
		t.Errorf("reverse .9: %v", got)
	}

	// Names are stored canonical: lower case, no trailing dot.
	if err := tb.Set("ep-mixed", Record{Name: "Mixed.Case.", Addr: a("::ffff:172.18.0.7"), PTR: true}); err != nil {
		t.Fatal(err)
	}
	if got := tb.Lookup("mixed.case"); !slices.Equal(got, []netip.Addr{a("172.18.0.7")}) {
		t.Errorf("mixed.case: %v", got)
	}
	if got := tb.Reverse(a("172.18.0.7")); !slices.Equal(got, []string{"mixed.case"}) {
		t.Errorf("reverse .7: %v", got)
	}

	// Deleting one owner of a shared alias leaves the others.
	tb.Delete("ep-api")
	if got := tb.Lookup("backend"); !slices.Equal(got, []netip.Addr{a("172.18.0.4"), a("fd00:18::4")}) {
		t.Errorf("backend after delete: %v", got)
	}
	if got := tb.Lookup("api"); got != nil {
		t.Errorf("api after delete: %v", got)
	}
	tb.Delete("ep-api") // again: not an error

	// A bad record changes nothing.
	before := tb.Lookup("web")
	if err := tb.Set("ep-web", Record{Name: "web", Addr: a("172.18.0.2")}, Record{Name: "", Addr: a("172.18.0.5")}); err == nil {
		t.Error("empty name accepted")
	}
	if err := tb.Set("ep-web", Record{Name: "web"}); err == nil {
		t.Error("invalid address accepted")
	}
	if err := tb.Set("ep-web", Record{Name: "a..b", Addr: a("172.18.0.2")}); err == nil {
		t.Error("a..b accepted")
	}
	if got := tb.Lookup("web"); !slices.Equal(got, before) || tb.Lookup("frontend") == nil {
		t.Errorf("web after rejected sets: %v", got)
	}
}

// The first owner that set a PTR name for an address answers it, as
// Docker answers the first element of its set; a refresh keeps its place.
func TestMemTablePTROrder(t *testing.T) {
	tb := NewTable()
	a := netip.MustParseAddr("172.18.0.2")
	tb.Set("first", Record{Name: "one.br1", Addr: a, PTR: true})
	tb.Set("second", Record{Name: "two.br2", Addr: a, PTR: true})
	tb.Set("first", Record{Name: "uno.br1", Addr: a, PTR: true})
	if got := tb.Reverse(a); !slices.Equal(got, []string{"uno.br1", "two.br2"}) {
		t.Errorf("reverse: %v", got)
	}
}

func TestMemTableConcurrent(t *testing.T) {
	tb := testTable(t)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; j < 500; j++ {
				tb.Set("churn", Record{Name: "churn", Addr: netip.MustParseAddr("172.18.0.50")})
				tb.Delete("churn")
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 500; j++ {
				if len(tb.Lookup("web")) != 1 {
					t.Error("web vanished during churn")
					return
				}
				tb.Lookup("churn")
			}
		}()
	}
	wg.Wait()
}

// A container on br1 and br2 sees both networks' names; the network it
// joined first answers a name both know; "name.network" picks one.
func TestChainAndEndpointRecords(t *testing.T) {
	a := netip.MustParseAddr
	br1, br2 := NewTable(), NewTable()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(br1.Set("ep1", EndpointRecords("br1", "web", []string{"frontend", "749bbbea2172"}, a("172.18.0.2"))...))
	must(br2.Set("ep2", EndpointRecords("br2", "web", []string{"749bbbea2172"}, a("172.19.0.2"))...))
	must(br2.Set("ep3", EndpointRecords("br2", "db", nil, a("172.19.0.3"))...))
	c := NewChain(br1, br2)
	for name, want := range map[string]string{
		"web": "172.18.0.2", "web.br2": "172.19.0.2", "frontend.br1": "172.18.0.2",
		"749bbbea2172": "172.18.0.2", "749bbbea2172.br2": "172.19.0.2", "db": "172.19.0.3",
	} {
		if got := c.Lookup(name); len(got) != 1 || got[0] != a(want) {
			t.Errorf("%s: %v, want %s", name, got, want)
		}
	}
	if got := c.Lookup("frontend.br2"); got != nil {
		t.Errorf("frontend.br2: %v", got)
	}
	if got := c.Reverse(a("172.19.0.2")); !slices.Equal(got, []string{"web.br2"}) {
		t.Errorf("reverse 172.19.0.2: %v", got)
	}
	c.Set(br2)
	if got := c.Lookup("web"); len(got) != 1 || got[0] != a("172.19.0.2") {
		t.Errorf("web after leaving br1: %v", got)
	}
}
