// Package ipam allocates subnets and addresses the way Docker 20.10's
// default IPAM driver does: predefined pools cut into subnets, the next free
// one for a network created without --subnet (round the list, from the one
// after the last handed out), the first host address as the gateway, container addresses lowest-free first from .2 (a freed address is
// the next one handed out), and a MAC derived from the IPv4 address.
package ipam

//lint:file-ignore ST1005 Docker's error messages are kept word for word, capitals included.
import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// Pool is a block of address space that Docker cuts into subnets of Size bits.
type Pool struct {
	Base netip.Prefix
	Size int
}

// LocalDefaults are Docker 20.10's local-scope pools: 172.17.0.0/16 up to
// 172.31.0.0/16, then 192.168.0.0/16 in /20s.
var LocalDefaults = func() []Pool {
	var p []Pool
	for i := 17; i <= 31; i++ {
		p = append(p, Pool{netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(i), 0, 0}), 16), 16})
	}
	return append(p, Pool{netip.MustParsePrefix("192.168.0.0/16"), 20})
}()

// GlobalDefaults is Docker's global-scope pool (overlay networks): 10.0.0.0/8 in /24s.
var GlobalDefaults = []Pool{{netip.MustParsePrefix("10.0.0.0/8"), 24}}

// Errors with Docker's own messages, capitals included (the CLI prints
// them as they are); the API layer maps them to its status codes.
var (
	ErrPoolOverlap    = errors.New("Pool overlaps with other one on this address space")
	ErrNoPool         = errors.New("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")
	ErrAddressInUse   = errors.New("Address already in use")
	ErrOutOfRange     = errors.New("Requested address is out of range")
	ErrNoAddress      = errors.New("no available addresses on this pool")
	ErrUnknownSubnet  = errors.New("subnet not allocated in this address space")
	ErrNotIPv4        = errors.New("only IPv4 subnets are supported")
	ErrRangeNotInPool = errors.New("ip-range is not inside the subnet")
)

// Space is one address space: the subnets allocated in it and, for each,
// the addresses in use. It is safe for concurrent use.
type Space struct {
	mu      sync.Mutex
	pools   []Pool
	subnets map[netip.Prefix]*subnet
	// next is where the search for a free predefined subnet starts: the
	// one after the last handed out, as libnetwork's
	// predefinedStartIndices. So a network removed and created again
	// gets the next subnet, not its old one, until the list comes round.
	next int
}

type subnet struct {
	prefix netip.Prefix
	rng    netip.Prefix // where container addresses come from (--ip-range)
	used   map[netip.Addr]bool
}

// NewSpace returns an empty address space whose automatic subnets come from pools.
func NewSpace(pools []Pool) *Space {
	return &Space{pools: pools, subnets: map[netip.Prefix]*subnet{}}
}

// RequestPool allocates a subnet. With want valid it must not overlap an
// allocated subnet; otherwise the next subnet of the pools (from where the
// last such request stopped, round the list) that overlaps neither an
// allocated subnet nor any prefix in avoid (libnetwork avoids the host's
// own routes for local networks). ipRange, if valid, narrows where
// container addresses come from and must lie inside the subnet.
func (s *Space) RequestPool(want, ipRange netip.Prefix, avoid []netip.Prefix) (netip.Prefix, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if want.IsValid() {
		want = want.Masked()
		if !want.Addr().Is4() {
			return netip.Prefix{}, ErrNotIPv4
		}
		if s.overlaps(want) {
			return netip.Prefix{}, ErrPoolOverlap
		}
		return want, s.add(want, ipRange)
	}
	total := s.predefinedCount()
	for k := range total {
		i := (s.next + k) % total
		sub := s.predefined(i)
		if s.overlaps(sub) || overlapsAny(sub, avoid) {
			continue
		}
		if err := s.add(sub, ipRange); err != nil {
			return netip.Prefix{}, err
		}
		s.next = (i + 1) % total
		return sub, nil
	}
	return netip.Prefix{}, ErrNoPool
}

// Cursor is where the next search for a free predefined subnet starts;
// SetCursor puts it there again. A daemon put back to how it started
// rewinds its spaces to the cursors they had once its predefined networks
// were made, so that its next network gets the subnet a fresh daemon's
// would (libnetwork keeps the same start indices in memory only).
func (s *Space) Cursor() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// SetCursor: see Cursor.
func (s *Space) SetCursor(i int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = i
}

// predefinedCount is the number of subnets the pools are cut into.
func (s *Space) predefinedCount() int {
	n := 0
	for _, p := range s.pools {
		n += 1 << (p.Size - p.Base.Bits())
	}
	return n
}

// predefined is the i-th subnet of the pools, in order.
func (s *Space) predefined(i int) netip.Prefix {
	for _, p := range s.pools {
		count := 1 << (p.Size - p.Base.Bits())
		if i >= count {
			i -= count
			continue
		}
		b := p.Base.Masked().Addr().As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		v += uint32(i) << (32 - p.Size)
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), p.Size)
	}
	return netip.Prefix{}
}

func (s *Space) add(p, ipRange netip.Prefix) error {
	rng := p
	if ipRange.IsValid() {
		ipRange = ipRange.Masked()
		if !p.Contains(ipRange.Addr()) || ipRange.Bits() < p.Bits() {
			return ErrRangeNotInPool
		}
		rng = ipRange
	}
	s.subnets[p] = &subnet{prefix: p, rng: rng, used: map[netip.Addr]bool{}}
	return nil
}

func (s *Space) overlaps(p netip.Prefix) bool {
	for q := range s.subnets {
		if q.Overlaps(p) {
			return true
		}
	}
	return false
}

func overlapsAny(p netip.Prefix, list []netip.Prefix) bool {
	for _, q := range list {
		if q.Overlaps(p) {
			return true
		}
	}
	return false
}

// ReleasePool frees a subnet and every address in it.
func (s *Space) ReleasePool(p netip.Prefix) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subnets, p.Masked())
}

// RequestAddress reserves want in subnet p, or, when want is the zero Addr,
// the lowest free host address of the subnet's range.
func (s *Space) RequestAddress(p netip.Prefix, want netip.Addr) (netip.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subnets[p.Masked()]
	if !ok {
		return netip.Addr{}, fmt.Errorf("%w: %s", ErrUnknownSubnet, p)
	}
	if want.IsValid() {
		if !sub.prefix.Contains(want) {
			return netip.Addr{}, ErrOutOfRange
		}
		// Docker's bitmask marks the network and broadcast addresses as
		// taken, so asking for one of them is "in use", not "out of range".
		if sub.used[want] || !isHost(sub.prefix, want) {
			return netip.Addr{}, ErrAddressInUse
		}
		sub.used[want] = true
		return want, nil
	}
	for a := sub.rng.Addr(); sub.rng.Contains(a); a = a.Next() {
		if isHost(sub.prefix, a) && !sub.used[a] {
			sub.used[a] = true
			return a, nil
		}
	}
	return netip.Addr{}, ErrNoAddress
}

// ReleaseAddress frees an address; freeing one that is not in use is a no-op.
func (s *Space) ReleaseAddress(p netip.Prefix, a netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub, ok := s.subnets[p.Masked()]; ok {
		delete(sub.used, a)
	}
}

// Contains reports whether subnet p is allocated and holds a.
func (s *Space) Contains(p netip.Prefix, a netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subnets[p.Masked()]
	return ok && sub.prefix.Contains(a)
}

// InUse reports whether address a of subnet p is allocated.
func (s *Space) InUse(p netip.Prefix, a netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subnets[p.Masked()]
	return ok && sub.used[a]
}

// Subnets lists the allocated subnets.
func (s *Space) Subnets() []netip.Prefix {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []netip.Prefix
	for p := range s.subnets {
		out = append(out, p)
	}
	return out
}

// FirstHost is the gateway Docker picks when --gateway is not given.
func FirstHost(p netip.Prefix) netip.Addr { return p.Masked().Addr().Next() }

// isHost excludes the network and broadcast addresses, as Docker's bitmask does
// for subnets larger than /31.
func isHost(p netip.Prefix, a netip.Addr) bool {
	if p.Bits() >= 31 {
		return true
	}
	return a != p.Masked().Addr() && a != lastAddr(p)
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := 32 - p.Bits()
	for i := 3; i >= 0 && host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	return netip.AddrFrom4(b)
}

// MAC is the address Docker gives an endpoint: 02:42 and the four IPv4 bytes
// (172.19.0.2 → 02:42:ac:13:00:02).
func MAC(a netip.Addr) net.HardwareAddr {
	b := a.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}
