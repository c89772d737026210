package firewall

import (
	"fmt"
	"slices"
)

// registry is what a backend has written, so that a removal deletes exactly
// the rules its addition made (with the settings used then), and a repeated
// call is recognised. Both backends keep one, under their mutex.
type registry struct {
	setup bool
	nets  map[string]Network // by bridge
	order []string           // bridges, oldest first
	ports map[string]Port    // by Port.key
	links map[string]Link    // by Link.key
}

func newRegistry() registry {
	return registry{nets: map[string]Network{}, ports: map[string]Port{}, links: map[string]Link{}}
}

// checkNetwork validates n and says whether it is already present.
func (r *registry) checkNetwork(n Network) (present bool, err error) {
	if !r.setup {
		return false, fmt.Errorf("network %s: firewall not set up", n.Bridge)
	}
	if err := validateNetwork(n); err != nil {
		return false, err
	}
	old, ok := r.nets[n.Bridge]
	if !ok {
		return false, nil
	}
	if old != n {
		return false, fmt.Errorf("network %s: already present with other settings (%+v)", n.Bridge, old)
	}
	return true, nil
}

func (r *registry) addNetwork(n Network) {
	r.nets[n.Bridge] = n
	r.order = append(r.order, n.Bridge)
}

func (r *registry) removeNetwork(bridge string) {
	delete(r.nets, bridge)
	r.order = slices.DeleteFunc(r.order, func(b string) bool { return b == bridge })
}

// portsOn and linksOn list what still hangs on a bridge, newest last.
func (r *registry) portsOn(bridge string) []Port {
	var ps []Port
	for _, p := range r.ports {
		if p.Bridge == bridge {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b Port) int { return compareStrings(a.key(), b.key()) })
	return ps
}

func (r *registry) linksOn(bridge string) []Link {
	var ls []Link
	for _, l := range r.links {
		if l.Bridge == bridge {
			ls = append(ls, l)
		}
	}
	slices.SortFunc(ls, func(a, b Link) int { return compareStrings(a.key(), b.key()) })
	return ls
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkPort validates p against its network and says whether the very same
// mapping is present already.
func (r *registry) checkPort(p Port) (present bool, err error) {
	n, ok := r.nets[p.Bridge]
	if !ok {
		return false, fmt.Errorf("port %s: no network on bridge %s", p, p.Bridge)
	}
	if err := validatePort(p, n); err != nil {
		return false, err
	}
	old, ok := r.ports[p.key()]
	if !ok {
		return false, nil
	}
	if old != p {
		return false, fmt.Errorf("port %s: host port already published as %s", p, old)
	}
	return true, nil
}

func (r *registry) checkLink(l Link) (present bool, err error) {
	n, ok := r.nets[l.Bridge]
	if !ok {
		return false, fmt.Errorf("link %s: no network on bridge %s", l, l.Bridge)
	}
	if err := validateLink(l, n); err != nil {
		return false, err
	}
	old, ok := r.links[l.key()]
	if !ok {
		return false, nil
	}
	if !slices.Equal(old.Ports, l.Ports) {
		return false, fmt.Errorf("link %s: already present as %s", l, old)
	}
	return true, nil
}
