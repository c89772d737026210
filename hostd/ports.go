package hostd

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/nslab/nslab/netimpl/portmap"
)

// normalPort writes a port key as Docker does: "80" is "80/tcp".
func normalPort(p string) string {
	if !strings.Contains(p, "/") {
		return p + "/tcp"
	}
	return strings.ToLower(p)
}

// parsePortKey reads "80/tcp" or a range "8000-8001/udp".
func parsePortKey(k string) (proto string, begin, end uint16, err error) {
	k = normalPort(k)
	ports, proto, _ := strings.Cut(k, "/")
	if proto != "tcp" && proto != "udp" {
		return "", 0, 0, badRequest("invalid proto: %s", proto)
	}
	begin, end, err = parseRange(ports)
	if err != nil || begin == 0 {
		return "", 0, 0, badRequest("invalid containerPort: %s", ports)
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
			return 0, 0, badRequest("invalid port range: %s", s)
		}
	}
	return uint16(lo), uint16(hi), nil
}

// portSpecs are the mappings a container asks for, in Docker's order
// (sorted by port key): PortBindings, and with -P every exposed port not
// bound explicitly, on an ephemeral host port. Container address is filled
// in by the caller.
func portSpecs(c *Container) ([]portmap.Spec, error) {
	bindings := map[string][]PortBinding{}
	for k, v := range c.HostConfig.PortBindings {
		bindings[normalPort(k)] = v
	}
	if c.HostConfig.PublishAllPorts {
		for k := range c.Config.ExposedPorts {
			if _, ok := bindings[normalPort(k)]; !ok {
				bindings[normalPort(k)] = []PortBinding{{}}
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
		proto, cport, cend, err := parsePortKey(k)
		if err != nil {
			return nil, err
		}
		for _, b := range bindings[k] {
			var hip netip.Addr
			if b.HostIP != "" {
				if hip, err = netip.ParseAddr(b.HostIP); err != nil {
					return nil, badRequest("invalid IP address: %s", b.HostIP)
				}
			}
			hlo, hhi, err := parseRange(b.HostPort)
			if err != nil {
				return nil, badRequest("invalid hostPort: %s", b.HostPort)
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
