package portmap

import (
	"errors"
	"fmt"
	"net/netip"
)

// Spec is one published port as asked: `-p [HostIP:]HostPort[-HostPortEnd]:ContainerPort/Proto`.
type Spec struct {
	Proto string // "tcp" or "udp"
	// HostIP is the host address to listen on; the zero value means all
	// addresses (0.0.0.0, or :: for an IPv6 container address).
	HostIP netip.Addr
	// HostPort is the host port; 0 asks for an ephemeral one (-P). With
	// HostPortEnd set, the two are a range and the first free port of it
	// is taken.
	HostPort, HostPortEnd uint16
	ContainerIP           netip.Addr
	ContainerPort         uint16
}

// Binding is a published port as made: the host port is the one reserved.
type Binding struct {
	Proto         string
	HostIP        netip.Addr
	HostPort      uint16
	ContainerIP   netip.Addr
	ContainerPort uint16
}

// Host is the address the proxy listens on.
func (b Binding) Host() netip.AddrPort { return netip.AddrPortFrom(b.HostIP, b.HostPort) }

// Container is the address the proxy relays to.
func (b Binding) Container() netip.AddrPort {
	return netip.AddrPortFrom(b.ContainerIP, b.ContainerPort)
}

// String reads like `docker ps`: 0.0.0.0:8080->172.19.0.2:80/tcp.
func (b Binding) String() string {
	return fmt.Sprintf("%s->%s/%s", b.Host(), b.Container(), b.Proto)
}

// AllocatedError is Docker's ErrPortAlreadyAllocated: the host port is
// already published on that address (by this Mapper).
type AllocatedError struct {
	HostIP   netip.Addr
	HostPort uint16
}

func (e *AllocatedError) Error() string {
	return fmt.Sprintf("Bind for %s:%d failed: port is already allocated", e.HostIP, e.HostPort)
}

// ProxyError says the userland proxy could not listen, typically because
// another program holds the port. Err is the listen error itself.
type ProxyError struct{ Err error }

func (e *ProxyError) Error() string { return "Error starting userland proxy: " + e.Err.Error() }
func (e *ProxyError) Unwrap() error { return e.Err }

var (
	// ErrAllPortsAllocated: the ephemeral range or the asked range is full.
	ErrAllPortsAllocated = errors.New("all ports are allocated")
	// ErrPortNotMapped: Unmap of a binding this Mapper does not have.
	ErrPortNotMapped = errors.New("port is not mapped")
	// ErrClosed: the Mapper was closed.
	ErrClosed = errors.New("portmap: mapper closed")
)

// binding checks s and fills in what Docker fills in: the host address for
// "all", and the end of a single-port request. The errors name the field.
func (s Spec) binding() (Binding, uint16, error) {
	b := Binding{Proto: s.Proto, HostIP: s.HostIP.Unmap(), HostPort: s.HostPort,
		ContainerIP: s.ContainerIP.Unmap(), ContainerPort: s.ContainerPort}
	if b.Proto != "tcp" && b.Proto != "udp" {
		return b, 0, fmt.Errorf("portmap: protocol %q: want tcp or udp", s.Proto)
	}
	if !b.ContainerIP.IsValid() || b.ContainerIP.IsUnspecified() || b.ContainerIP.Zone() != "" {
		return b, 0, fmt.Errorf("portmap: container address %q is not a usable address", s.ContainerIP)
	}
	if b.ContainerPort == 0 {
		return b, 0, fmt.Errorf("portmap: container port 0")
	}
	if !b.HostIP.IsValid() {
		// Docker's default binding address, 0.0.0.0, or "::" for an IPv6
		// endpoint (validatePortBindingIPv4/IPv6 in the bridge driver).
		b.HostIP = netip.IPv4Unspecified()
		if b.ContainerIP.Is6() {
			b.HostIP = netip.IPv6Unspecified()
		}
	}
	// An IPv6 host address may serve an IPv4 container: Docker 20.10
	// publishes a port asked on all addresses on :: too, and its proxy
	// relays that to the container's IPv4 address (allocatePortsInternal,
	// "to keep backward compatibility"). Map refuses it without a proxy.
	if b.HostIP.Is4() && !b.ContainerIP.Is4() {
		return b, 0, fmt.Errorf("portmap: host address %s and container address %s are of different families", b.HostIP, b.ContainerIP)
	}
	if b.HostIP.Zone() != "" {
		return b, 0, fmt.Errorf("portmap: host address %s: zones are not supported", b.HostIP)
	}
	end := s.HostPortEnd
	if end == 0 {
		end = s.HostPort
	}
	if (s.HostPort == 0) != (end == 0) || end < s.HostPort {
		return b, 0, fmt.Errorf("invalid port range: %d-%d", s.HostPort, end)
	}
	return b, end, nil
}
