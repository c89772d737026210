package ipam

import (
	"errors"
	"net/netip"
	"testing"
)

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

// Docker 20.10: docker0 takes 172.17/16, then `network create` without
// --subnet takes 172.18/16, 172.19/16, ... (fixtures/docker-20.10).
func TestNextFreePoolIsDockers(t *testing.T) {
	s := NewSpace(LocalDefaults)
	want := []string{"172.17.0.0/16", "172.18.0.0/16", "172.19.0.0/16"}
	for _, w := range want {
		p, err := s.RequestPool(netip.Prefix{}, netip.Prefix{}, nil)
		if err != nil || p != pfx(w) {
			t.Fatalf("got %v %v, want %s", p, err, w)
		}
	}
	// A pool overlapping a host route is skipped.
	if p, _ := s.RequestPool(netip.Prefix{}, netip.Prefix{}, []netip.Prefix{pfx("172.20.5.0/24")}); p != pfx("172.21.0.0/16") {
		t.Fatalf("want 172.21.0.0/16 past the route, got %v", p)
	}
}

// Docker 20.10 goes on from the subnet after the last one it handed out
// (libnetwork's predefinedStartIndices): `network create rr1; network rm
// rr1; network create rr2` gives rr2 the next subnet, and a subnet freed
// behind the search is taken again only once the list comes round.
func TestReleasedPoolIsNotTheNextOne(t *testing.T) {
	s := NewSpace(LocalDefaults)
	for _, w := range []string{"172.17.0.0/16", "172.18.0.0/16"} {
		if p, err := s.RequestPool(netip.Prefix{}, netip.Prefix{}, nil); err != nil || p != pfx(w) {
			t.Fatalf("got %v %v, want %s", p, err, w)
		}
	}
	s.ReleasePool(pfx("172.18.0.0/16"))
	if p, _ := s.RequestPool(netip.Prefix{}, netip.Prefix{}, nil); p != pfx("172.19.0.0/16") {
		t.Fatalf("after 172.18.0.0/16 is released, want 172.19.0.0/16, got %v", p)
	}
	// An explicit subnet does not move the search.
	if _, err := s.RequestPool(pfx("10.5.0.0/16"), netip.Prefix{}, nil); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.RequestPool(netip.Prefix{}, netip.Prefix{}, nil); p != pfx("172.20.0.0/16") {
		t.Fatalf("want 172.20.0.0/16, got %v", p)
	}
	// Round the list: 172.21-31 and the sixteen /20s of 192.168, then
	// 172.18.0.0/16 again, the first one free from the start.
	for range 11 + 16 {
		if _, err := s.RequestPool(netip.Prefix{}, netip.Prefix{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if p, _ := s.RequestPool(netip.Prefix{}, netip.Prefix{}, nil); p != pfx("172.18.0.0/16") {
		t.Fatalf("round the list, want 172.18.0.0/16, got %v", p)
	}
	if _, err := s.RequestPool(netip.Prefix{}, netip.Prefix{}, nil); !errors.Is(err, ErrNoPool) {
		t.Fatalf("every subnet taken: want ErrNoPool, got %v", err)
	}
}

func TestPoolsRunIntoThe192_168Twenties(t *testing.T) {
	s := NewSpace(LocalDefaults)
	for i := 17; i <= 31; i++ {
		if _, err := s.RequestPool(netip.Prefix{}, netip.Prefix{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []string{"192.168.0.0/20", "192.168.16.0/20"} {
		if p, err := s.RequestPool(netip.Prefix{}, netip.Prefix{}, nil); err != nil || p != pfx(w) {
			t.Fatalf("got %v %v, want %s", p, err, w)
		}
	}
}

func TestGlobalPoolIsTenSlash24s(t *testing.T) {
	s := NewSpace(GlobalDefaults)
	for _, w := range []string{"10.0.0.0/24", "10.0.1.0/24"} {
		if p, err := s.RequestPool(netip.Prefix{}, netip.Prefix{}, nil); err != nil || p != pfx(w) {
			t.Fatalf("got %v %v, want %s", p, err, w)
		}
	}
}

func TestOverlapIsDockersError(t *testing.T) {
	s := NewSpace(LocalDefaults)
	s.RequestPool(pfx("172.18.0.0/16"), netip.Prefix{}, nil)
	if _, err := s.RequestPool(pfx("172.18.5.0/24"), netip.Prefix{}, nil); !errors.Is(err, ErrPoolOverlap) ||
		err.Error() != "Pool overlaps with other one on this address space" {
		t.Fatalf("got %v", err)
	}
}

// Docker 20.10: .2, .3, .4 in order; after .3 is freed the next is .3.
func TestAddressesLowestFreeFirst(t *testing.T) {
	s := NewSpace(LocalDefaults)
	p, _ := s.RequestPool(pfx("192.168.1.0/24"), netip.Prefix{}, nil)
	if _, err := s.RequestAddress(p, FirstHost(p)); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"192.168.1.2", "192.168.1.3", "192.168.1.4"} {
		if a, err := s.RequestAddress(p, netip.Addr{}); err != nil || a != addr(w) {
			t.Fatalf("got %v %v, want %s", a, err, w)
		}
	}
	s.ReleaseAddress(p, addr("192.168.1.3"))
	if a, _ := s.RequestAddress(p, netip.Addr{}); a != addr("192.168.1.3") {
		t.Fatalf("freed address not reused first: %v", a)
	}
	if _, err := s.RequestAddress(p, addr("192.168.1.2")); !errors.Is(err, ErrAddressInUse) {
		t.Fatalf("want in use, got %v", err)
	}
	if _, err := s.RequestAddress(p, addr("10.0.0.1")); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("10.0.0.1: want out of range, got %v", err)
	}
	// Docker 20.10: --gateway 10.12.0.0 on 10.12.0.0/24 fails with
	// "failed to allocate gateway (10.12.0.0): Address already in use".
	for _, bad := range []string{"192.168.1.0", "192.168.1.255"} {
		if _, err := s.RequestAddress(p, addr(bad)); !errors.Is(err, ErrAddressInUse) {
			t.Fatalf("%s: want in use, got %v", bad, err)
		}
	}
	if !s.InUse(p, addr("192.168.1.3")) || s.InUse(p, addr("192.168.1.9")) || !s.Contains(p, addr("192.168.1.9")) || s.Contains(p, addr("10.0.0.1")) {
		t.Fatal("InUse/Contains disagree with the allocations")
	}
}

func TestIPRangeAndExhaustion(t *testing.T) {
	s := NewSpace(LocalDefaults)
	p, err := s.RequestPool(pfx("10.1.0.0/24"), pfx("10.1.0.128/30"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := []netip.Addr{}
	for {
		a, err := s.RequestAddress(p, netip.Addr{})
		if errors.Is(err, ErrNoAddress) {
			break
		}
		got = append(got, a)
	}
	if len(got) != 4 || got[0] != addr("10.1.0.128") || got[3] != addr("10.1.0.131") {
		t.Fatalf("range allocations %v", got)
	}
	if _, err := s.RequestPool(pfx("10.2.0.0/24"), pfx("10.3.0.0/28"), nil); !errors.Is(err, ErrRangeNotInPool) {
		t.Fatalf("want range error, got %v", err)
	}
}

func TestMAC(t *testing.T) {
	if m := MAC(addr("172.19.0.2")).String(); m != "02:42:ac:13:00:02" {
		t.Fatal(m)
	}
	if FirstHost(pfx("172.18.0.0/16")) != addr("172.18.0.1") {
		t.Fatal("gateway")
	}
}
