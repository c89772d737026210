package controller

import (
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/portmap"
)

// PortRequest is what a container asks to publish: -p (Bindings, by port
// key such as "80/tcp" or "8000-8001/udp"), -P (PublishAll, every exposed
// port on an ephemeral host port) and its exposed ports' keys.
type PortRequest struct {
	Exposed    []string
	Bindings   map[string][]PortBinding
	PublishAll bool
}

// PortBinding is one host side of -p: an address ("" for all) and a port
// or range ("" for an ephemeral one).
type PortBinding struct {
	HostIP   string
	HostPort string
}

// PortMapping is one published port as made: the container's port and
// protocol, the host's address and port.
type PortMapping struct {
	Proto         string
	ContainerPort uint16
	HostIP        netip.Addr
	HostPort      uint16
}

// NormalPort writes a port key as Docker does: "80" is "80/tcp".
func NormalPort(p string) string {
	if !strings.Contains(p, "/") {
		return p + "/tcp"
	}
	return strings.ToLower(p)
}

// ParsePortKey reads "80/tcp" or a range "8000-8001/udp", with Docker's
// messages.
func ParsePortKey(k string) (proto string, begin, end uint16, err error) {
	k = NormalPort(k)
	ports, proto, _ := strings.Cut(k, "/")
	if proto != "tcp" && proto != "udp" {
		return "", 0, 0, invalid("invalid proto: %s", proto)
	}
	begin, end, err = parseRange(ports)
	if err != nil || begin == 0 {
		return "", 0, 0, invalid("invalid containerPort: %s", ports)
	}
	return proto, begin, end, nil
}

// parseRange reads "80" or "8000-8010"; "" is 0-0.
func parseRange(s string) (uint16, uint16, error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	lo, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return 0, 0, err
	}
	hi := lo
	if isRange {
		if hi, err = strconv.ParseUint(b, 10, 16); err != nil || hi < lo {
			return 0, 0, invalid("invalid port range: %s", s)
		}
	}
	return uint16(lo), uint16(hi), nil
}

// portSpecs are the mappings a container asks for, in Docker's order
// (sorted by port key): its bindings, and with -P every exposed port not
// bound explicitly, on an ephemeral host port. Container address is filled
// in by the caller.
func portSpecs(r PortRequest) ([]portmap.Spec, error) {
	bindings := map[string][]PortBinding{}
	for k, v := range r.Bindings {
		bindings[NormalPort(k)] = v
	}
	if r.PublishAll {
		for _, k := range r.Exposed {
			if _, ok := bindings[NormalPort(k)]; !ok {
				bindings[NormalPort(k)] = []PortBinding{{}}
			}
		}
	}
	keys := make([]string, 0, len(bindings))
	for k := range bindings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var specs []portmap.Spec
	for _, k := range keys {
		proto, cport, cend, err := ParsePortKey(k)
		if err != nil {
			return nil, err
		}
		for _, b := range bindings[k] {
			var hip netip.Addr
			if b.HostIP != "" {
				if hip, err = netip.ParseAddr(b.HostIP); err != nil {
					return nil, invalid("invalid IP address: %s", b.HostIP)
				}
			}
			hlo, hhi, err := parseRange(b.HostPort)
			if err != nil {
				return nil, invalid("invalid hostPort: %s", b.HostPort)
			}
			// A container range maps port by port onto an equal host
			// range; a single container port takes the first free port
			// of a host range.
			if cend > cport {
				for p := cport; ; p++ {
					s := portmap.Spec{Proto: proto, HostIP: hip, ContainerPort: p}
					if hlo != 0 {
						s.HostPort = hlo + (p - cport)
					}
					specs = append(specs, s)
					if p == cend {
						break
					}
				}
				continue
			}
			s := portmap.Spec{Proto: proto, HostIP: hip, HostPort: hlo, ContainerPort: cport}
			if hhi > hlo {
				s.HostPortEnd = hhi
			}
			specs = append(specs, s)
		}
	}
	return specs, nil
}

// withIPv6Twins follows each mapping asked on all addresses with the same
// request on [::], when proxy says the userland proxy is on and IPv6 can
// be listened on: dockerd 20.10 (bridge driver's allocatePortsInternal)
// publishes such a port on both, its proxy relaying [::] to the
// container's IPv4 address, so that inspect shows 0.0.0.0:80 and :::80.
// The twin asks for the same host port as the original request, not the
// one the IPv4 mapping got: an ephemeral one is chosen afresh on [::].
func withIPv6Twins(specs []portmap.Spec, proxy bool) []portmap.Spec {
	if !proxy {
		return specs
	}
	out := make([]portmap.Spec, 0, 2*len(specs))
	for _, s := range specs {
		out = append(out, s)
		if !s.HostIP.IsValid() || s.HostIP.IsUnspecified() {
			t := s
			t.HostIP = netip.IPv6Unspecified()
			out = append(out, t)
		}
	}
	return out
}

var (
	v6Once       sync.Once
	v6Listenable bool
)

// ipv6Listenable is libnetwork's netutils.IsV6Listenable: whether [::1]
// can be listened on in the host's namespace (not with ipv6.disable=1).
// The calling thread, and so this check, is in the virtual host's.
func ipv6Listenable() bool {
	v6Once.Do(func() {
		if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
			ln.Close()
			v6Listenable = true
		}
	})
	return v6Listenable
}

// invalid is a bad request with Docker's text.
func invalid(format string, a ...any) error { return netimpl.Errorf(netimpl.KindInvalid, format, a...) }
