package firewall

import (
	"fmt"
	"slices"
)

// registry is what a backend has written, so that a removal deletes exactly
// the rules its addition made (with the settings used then), and a repeated
// call is recognised. Both backends keep one, under their mutex.
type registry struct {
	kind  string // the backend's, in its errors
	setup bool
	nets  map[string]Network // by bridge
	order []string           // bridges, oldest first
	ports map[string]Port    // by Port.key
	links map[string]Link    // by Link.key
}

func newRegistry(kind string) registry {
	return registry{kind: kind, nets: map[string]Network{}, ports: map[string]Port{}, links: map[string]Link{}}
}

// An item is what a backend adds: a Network, a Port or a Link. Each
// knows its place in the registry.
type item interface {
	// tag names the item in errors, and its rules in nftables.
	tag() string
	// checkIn validates the item against r and says whether the very
	// same item is there already.
	checkIn(r *registry) (present bool, err error)
	// recordIn records it once its rules are written.
	recordIn(r *registry)
}

// A removable item is taken away on its own: a Port or a Link (a
// network goes with what hangs on it, removeNetwork).
type removable interface {
	item
	// addedIn returns the item as it was added (with the rules it had
	// then), or false when r does not hold it.
	addedIn(r *registry) (item, bool)
	forgetIn(r *registry)
}

func (n Network) tag() string { return "network " + n.Bridge }
func (p Port) tag() string    { return "port " + p.String() }
func (l Link) tag() string    { return "link " + l.String() }

func (n Network) checkIn(r *registry) (bool, error) { return r.checkNetwork(n) }
func (p Port) checkIn(r *registry) (bool, error)    { return r.checkPort(p) }
func (l Link) checkIn(r *registry) (bool, error)    { return r.checkLink(l) }

func (n Network) recordIn(r *registry) {
	r.nets[n.Bridge] = n
	r.order = append(r.order, n.Bridge)
}
func (p Port) recordIn(r *registry) { r.ports[p.key()] = p }
func (l Link) recordIn(r *registry) { r.links[l.key()] = l }

// A port recorded as another mapping of the same host side is not this
// one: this one is gone already.
func (p Port) addedIn(r *registry) (item, bool) {
	old, ok := r.ports[p.key()]
	return old, ok && old == p
}
func (l Link) addedIn(r *registry) (item, bool) {
	old, ok := r.links[l.key()]
	return old, ok
}
func (p Port) forgetIn(r *registry) { delete(r.ports, p.key()) }
func (l Link) forgetIn(r *registry) { delete(r.links, l.key()) }

// add writes x's rules with write and records x. x is checked first: one
// that does not fit is refused, and nothing is written when the very same
// x is there already.
func (r *registry) add(x item, write func() error) error {
	present, err := x.checkIn(r)
	if err != nil || present {
		return wrapErr(r.kind, err)
	}
	if err := write(); err != nil {
		return fmt.Errorf("firewall %s: %s: %w", r.kind, x.tag(), err)
	}
	x.recordIn(r)
	return nil
}

// remove takes away the rules of x with del, given x as it was added, and
// forgets it. One not recorded is gone already.
func (r *registry) remove(x removable, del func(added item) error) error {
	added, ok := x.addedIn(r)
	if !ok {
		return nil
	}
	if err := del(added); err != nil {
		return fmt.Errorf("firewall %s: %s: %w", r.kind, x.tag(), err)
	}
	x.forgetIn(r)
	return nil
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

// removeNetwork forgets the network of bridge with the ports and links
// still on it.
func (r *registry) removeNetwork(bridge string) {
	for _, p := range r.portsOn(bridge) {
		delete(r.ports, p.key())
	}
	for _, l := range r.linksOn(bridge) {
		delete(r.links, l.key())
	}
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
