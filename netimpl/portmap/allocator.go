package portmap

import (
	"fmt"
	"net/netip"

	"github.com/nslab/nslab/netns"
)

// Docker 20.10's fallback ephemeral range (portallocator.go
// defaultPortRangeStart and defaultPortRangeEnd), used when the kernel's
// ip_local_port_range cannot be read.
const (
	DefaultRangeStart = 49153
	DefaultRangeEnd   = 65535
)

// localPortRange is libnetwork's getDynamicPortRange (portallocator_linux.go,
// Docker 20.10): the kernel's ephemeral range, net.ipv4.ip_local_port_range,
// of the namespace of the calling thread (32768-60999 by default).
func localPortRange() (begin, end uint16, err error) {
	v, err := netns.ReadSysctl("net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, err
	}
	var lo, hi int
	if n, err := fmt.Sscanf(v, "%d\t%d", &lo, &hi); n != 2 || err != nil {
		return 0, 0, fmt.Errorf("ip_local_port_range %q: %v", v, err)
	}
	if lo < 1 || hi > 65535 || hi < lo {
		return 0, 0, fmt.Errorf("ip_local_port_range %d-%d: not a port range", lo, hi)
	}
	return uint16(lo), uint16(hi), nil
}

// allocator is libnetwork's PortAllocator for one daemon: reserved ports
// per host address and protocol, and for each range asked so far the last
// port it gave, so that successive requests go round the range instead of
// reusing a port just released. It is not safe for concurrent use; the
// Mapper's lock guards it.
type allocator struct {
	begin, end uint16
	byIP       map[netip.Addr]map[string]*portSet
}

type portSet struct {
	used   map[uint16]bool
	ranges map[[2]uint16]uint16 // range -> last port given
}

func newAllocator(begin, end uint16) *allocator {
	return &allocator{begin: begin, end: end, byIP: map[netip.Addr]map[string]*portSet{}}
}

func (a *allocator) set(ip netip.Addr, proto string) *portSet {
	protos, ok := a.byIP[ip]
	if !ok {
		protos = map[string]*portSet{}
		a.byIP[ip] = protos
	}
	ps, ok := protos[proto]
	if !ok {
		ps = &portSet{used: map[uint16]bool{}, ranges: map[[2]uint16]uint16{}}
		protos[proto] = ps
	}
	return ps
}

// request reserves a port on ip/proto: exactly start when start == end
// (> 0), else the next free one of start-end (of the ephemeral range when
// both are 0). The caller has checked the range.
func (a *allocator) request(ip netip.Addr, proto string, start, end uint16) (uint16, error) {
	ps := a.set(ip, proto)
	if start > 0 && start == end {
		if ps.used[start] {
			return 0, &AllocatedError{HostIP: ip, HostPort: start}
		}
		ps.used[start] = true
		return start, nil
	}
	if start == 0 && end == 0 {
		start, end = a.begin, a.end
	}
	r := [2]uint16{start, end}
	last, ok := ps.ranges[r]
	if !ok {
		last = end // so that the first port given is the range's first
	}
	port := last
	for i := 0; i <= int(end-start); i++ {
		if port >= end {
			port = start
		} else {
			port++
		}
		if !ps.used[port] {
			ps.used[port] = true
			ps.ranges[r] = port
			return port, nil
		}
	}
	return 0, ErrAllPortsAllocated
}

// release frees a port; releasing a free port is not an error.
func (a *allocator) release(ip netip.Addr, proto string, port uint16) {
	if protos, ok := a.byIP[ip]; ok {
		if ps, ok := protos[proto]; ok {
			delete(ps.used, port)
		}
	}
}
