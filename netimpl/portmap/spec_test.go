package portmap

import (
	"errors"
	"net/netip"
	"testing"
)

var ctrIP = netip.MustParseAddr("10.251.0.2")

func TestSpecValidation(t *testing.T) {
	m := New(Options{NetNS: "/nonexistent"}) // nothing may reach the namespace
	for what, c := range map[string]struct {
		s    Spec
		want string
	}{
		"sctp":           {Spec{Proto: "sctp", HostPort: 80, ContainerIP: ctrIP, ContainerPort: 80}, `portmap: protocol "sctp": want tcp or udp`},
		"no container":   {Spec{Proto: "tcp", HostPort: 80, ContainerPort: 80}, `portmap: container address "invalid IP" is not a usable address`},
		"container port": {Spec{Proto: "tcp", HostPort: 80, ContainerIP: ctrIP}, "portmap: container port 0"},
		"families": {Spec{Proto: "tcp", HostIP: netip.MustParseAddr("10.251.0.1"), HostPort: 80, ContainerIP: netip.MustParseAddr("fd00::2"), ContainerPort: 80},
			"portmap: host address 10.251.0.1 and container address fd00::2 are of different families"},
		"backwards range": {Spec{Proto: "tcp", HostPort: 8010, HostPortEnd: 8000, ContainerIP: ctrIP, ContainerPort: 80}, "invalid port range: 8010-8000"},
		"end only":        {Spec{Proto: "tcp", HostPortEnd: 8000, ContainerIP: ctrIP, ContainerPort: 80}, "invalid port range: 0-8000"},
	} {
		_, err := m.Map(c.s)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: %v, want %q", what, err, c.want)
		}
	}
	bad := New(Options{Range: [2]uint16{50000, 40000}})
	if _, err := bad.Map(Spec{Proto: "tcp", ContainerIP: ctrIP, ContainerPort: 80}); err == nil ||
		err.Error() != "portmap: invalid ephemeral range 50000-40000" {
		t.Errorf("bad range: %v", err)
	}
	if err := m.Unmap(Binding{Proto: "tcp", HostIP: netip.IPv4Unspecified(), HostPort: 80}); !errors.Is(err, ErrPortNotMapped) {
		t.Errorf("unmap unknown: %v", err)
	}
}

// The allocator gives ports as libnetwork's portallocator does.
func TestAllocator(t *testing.T) {
	any4 := netip.IPv4Unspecified()
	lo := netip.MustParseAddr("127.0.0.1")
	a := newAllocator(DefaultRangeStart, DefaultRangeEnd)
	// want requests a port of al from first to last (0, 0: ephemeral)
	// and wants that one.
	want := func(al *allocator, ip netip.Addr, proto string, first, last, port uint16) {
		t.Helper()
		if got, err := al.request(ip, proto, first, last); err != nil || got != port {
			t.Fatalf("request(%s, %s, %d, %d): got %d, %v; want %d", ip, proto, first, last, got, err, port)
		}
	}
	// Ephemeral: from the start of Docker's range, round-robin.
	want(a, any4, "tcp", 0, 0, 49153)
	want(a, any4, "tcp", 0, 0, 49154)
	a.release(any4, "tcp", 49153)
	want(a, any4, "tcp", 0, 0, 49155)
	// Per address and protocol.
	want(a, lo, "tcp", 0, 0, 49153)
	want(a, any4, "udp", 49154, 49154, 49154)
	if _, err := a.request(any4, "tcp", 49154, 49154); err == nil || err.Error() != "Bind for 0.0.0.0:49154 failed: port is already allocated" {
		t.Errorf("taken: %v", err)
	}
	// A range: its own round-robin over the shared set of used ports.
	want(a, any4, "tcp", 8000, 8002, 8000)
	want(a, any4, "tcp", 8001, 8001, 8001)
	want(a, any4, "tcp", 8000, 8002, 8002)
	if _, err := a.request(any4, "tcp", 8000, 8002); !errors.Is(err, ErrAllPortsAllocated) || err.Error() != "all ports are allocated" {
		t.Errorf("full range: %v", err)
	}
	a.release(any4, "tcp", 8000)
	want(a, any4, "tcp", 8000, 8002, 8000)
	// The top of the port space wraps without overflowing.
	top := newAllocator(65534, 65535)
	want(top, any4, "tcp", 0, 0, 65534)
	want(top, any4, "tcp", 0, 0, 65535)
	top.release(any4, "tcp", 65534)
	want(top, any4, "tcp", 0, 0, 65534)
}
