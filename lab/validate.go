package lab

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"github.com/nslab/nslab/hostdconfig"
)

// Linux caps interface names at IFNAMSIZ-1 bytes.
const maxIfName = 15

var (
	ifNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)
	// fabricLinkRE is the form of the names the lab gives its own links
	// in the fabric namespace: hosts' legs (h<host>i<interface>) and the
	// bridges and links that chain a large segment's bridges
	// (s<segment>b<n>, s<segment>u<n>, s<segment>d<n>). A segment's
	// bridge lives there too and must not take one of them.
	fabricLinkRE = regexp.MustCompile(`^(h[0-9]+i[0-9]+|s[0-9]+[bud][0-9]+)$`)
	hostNameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	dockerNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
)

const (
	maxHostName   = 32
	defaultImage  = "alpine"
	defaultNet    = "bridge"
	fabricPinName = "fabric"
)

// Validate checks a topology built in code (ParseTopology checks the ones
// read from files), filling in the defaults first.
func (t *Topology) Validate() error {
	t.applyDefaults()
	if ps := t.check(nil); len(ps) > 0 {
		return &TopologyError{Problems: ps}
	}
	return nil
}

// applyDefaults fills in what the schema lets a file leave out.
func (t *Topology) applyDefaults() {
	for i := range t.Hosts {
		h := &t.Hosts[i]
		if h.Kind == "" {
			h.Kind = KindDocker
		}
		for j := range h.Interfaces {
			if h.Interfaces[j].Name == "" {
				h.Interfaces[j].Name = fmt.Sprintf("eth%d", j+1)
			}
		}
		if h.Etcd != nil && !h.Etcd.Address.IsValid() {
			for _, i := range h.Interfaces {
				if i.Address.IsValid() {
					h.Etcd.Address = i.Address.Addr()
					break
				}
			}
		}
		if h.Kind == KindDocker && len(h.API) == 0 {
			h.API = []string{APIUnix}
		}
		for j, a := range h.API {
			if a == "unix" {
				h.API[j] = APIUnix
			}
		}
		for j := range h.Containers {
			c := &h.Containers[j]
			if c.Image == "" {
				c.Image = defaultImage
			}
			if c.Network == "" {
				c.Network = defaultNet
			}
		}
	}
}

// checker collects problems, each located through the line table (nil for
// a topology built in code).
type checker struct {
	file     string
	lines    lines
	problems []Problem
}

func (c *checker) errorf(field, format string, args ...any) {
	c.problems = append(c.problems, Problem{File: c.file, Line: c.lines.at(field), Field: field, Message: fmt.Sprintf(format, args...)})
}

// check validates the whole topology and returns every problem found.
func (t *Topology) check(ls lines) []Problem {
	c := &checker{file: t.File, lines: ls}
	segs := c.segments(t.Segments)
	if len(t.Hosts) == 0 {
		c.errorf("hosts", "a topology needs at least one host")
	}
	hostSeen := map[string]string{}
	addrSeen := map[netip.Addr]string{}
	macSeen := map[string]string{}
	// Every namespace pin is /run/netns/<id>-<name>: host names and
	// host-container pairs must not produce the same name.
	pinSeen := map[string]string{fabricPinName: "the lab's fabric"}
	for i := range t.Hosts {
		h := &t.Hosts[i]
		hp := fmt.Sprintf("hosts[%d]", i)
		c.hostName(h, hp, hostSeen, pinSeen)
		switch h.Kind {
		case KindDocker, KindPlain:
		default:
			c.errorf(hp+".kind", "unknown kind %q (want %s or %s)", h.Kind, KindDocker, KindPlain)
		}
		c.interfaces(h, hp, segs, addrSeen, macSeen)
		c.routes(h, hp)
		c.bridge(h, hp, segs)
		c.dns(h, hp, t.Segments)
		c.containers(h, hp, pinSeen)
		c.api(h, hp)
	}
	c.etcd(t)
	c.images(t)
	c.segmentSizes(t)
	return c.problems
}

// images checks that every archive of the topology is there and reads as
// one, before anything of the lab exists.
func (c *checker) images(t *Topology) {
	for i, p := range t.Images {
		f := fmt.Sprintf("images[%d]", i)
		if p == "" {
			c.errorf(f, "an archive path is required")
			continue
		}
		if err := CheckArchive(p); err != nil {
			c.errorf(f, "%s: want a `docker save` archive: %v", p, err)
		}
	}
}

// segmentSizes refuses a segment with more interfaces than its bridges can
// hold: a bridge takes 1023 ports, and a segment's bridges form a star
// under the first one (newSegment).
func (c *checker) segmentSizes(t *Topology) {
	legs := map[string]int{}
	for _, h := range t.Hosts {
		for _, i := range h.Interfaces {
			legs[i.Segment]++
		}
	}
	for i, s := range t.Segments {
		if n := legs[s.Name]; n > maxSegmentLegs() {
			c.errorf(fmt.Sprintf("segments[%d].name", i), "segment %s has %d interfaces; its bridges hold at most %d (%d bridges of %d ports)", s.Name, n, maxSegmentLegs(), bridgePorts+1, bridgePorts)
		}
	}
}

func (c *checker) segments(segments []Segment) map[string]Segment {
	segs := map[string]Segment{}
	seen := map[string]string{}
	for i, s := range segments {
		sp := fmt.Sprintf("segments[%d]", i)
		if c.ifName(sp+".name", s.Name, "segment") {
			if s.Name == "lo" {
				c.errorf(sp+".name", "lo is the fabric namespace's loopback; a segment's bridge needs a name of its own")
			} else if fabricLinkRE.MatchString(s.Name) {
				c.errorf(sp+".name", "segment name %s has the form of the lab's own links in the fabric (h<host>i<interface>, s<segment>b<n>, s<segment>u<n>, s<segment>d<n>)", s.Name)
			} else if first, dup := seen[s.Name]; dup {
				c.errorf(sp+".name", "duplicate segment name %s (also %s)", s.Name, first)
			} else {
				seen[s.Name] = sp
				segs[s.Name] = s
			}
		}
		if !s.Prefix.IsValid() {
			c.errorf(sp+".prefix", "required")
			continue
		}
		if !s.Prefix.Addr().Is4() {
			c.errorf(sp+".prefix", "%s: only IPv4 segments are supported", s.Prefix)
			continue
		}
		if s.Prefix != s.Prefix.Masked() {
			c.errorf(sp+".prefix", "%s is not a network prefix (did you mean %s?)", s.Prefix, s.Prefix.Masked())
			continue
		}
		for j := 0; j < i; j++ {
			o := segments[j]
			if o.Prefix.IsValid() && o.Prefix.Overlaps(s.Prefix) {
				c.errorf(sp+".prefix", "%s overlaps segment %s (%s)", s.Prefix, o.Name, o.Prefix)
			}
		}
	}
	return segs
}

// ifName checks a Linux interface name; what says what it names.
func (c *checker) ifName(field, name, what string) bool {
	switch {
	case name == "":
		c.errorf(field, "required")
	case len(name) > maxIfName:
		c.errorf(field, "%s name %q is %d bytes; Linux allows at most %d", what, name, len(name), maxIfName)
	case !ifNameRE.MatchString(name) || name == "." || name == "..":
		c.errorf(field, "%s name %q may hold only letters, digits, '_', '.' and '-'", what, name)
	case name == "all" || name == "default":
		// /proc/sys/net/ipv4/conf/{all,default} are the kernel's own
		// directories; registering a link's directory of that name
		// fails, and Linux refuses the link ("invalid argument").
		c.errorf(field, "%s name %q is reserved by Linux: /proc/sys/net/ipv4/conf/%s holds the settings of every link, not of one", what, name, name)
	default:
		return true
	}
	return false
}

func (c *checker) hostName(h *HostSpec, hp string, seen, pins map[string]string) {
	f := hp + ".name"
	switch {
	case h.Name == "":
		c.errorf(f, "required")
	case len(h.Name) > maxHostName:
		c.errorf(f, "host name %q is %d bytes; at most %d", h.Name, len(h.Name), maxHostName)
	case !hostNameRE.MatchString(h.Name):
		c.errorf(f, "host name %q must match [a-z0-9][a-z0-9-]*", h.Name)
	case seen[h.Name] != "":
		c.errorf(f, "duplicate host name %s (also %s)", h.Name, seen[h.Name])
	case pins[h.Name] != "":
		c.errorf(f, "host name %s would share its namespace name with %s", h.Name, pins[h.Name])
	default:
		seen[h.Name] = hp
		pins[h.Name] = "host " + h.Name
	}
}

func (c *checker) interfaces(h *HostSpec, hp string, segs map[string]Segment, addrs map[netip.Addr]string, macs map[string]string) {
	names := map[string]string{}
	for j, i := range h.Interfaces {
		ip := fmt.Sprintf("%s.interfaces[%d]", hp, j)
		if c.ifName(ip+".name", i.Name, "interface") {
			switch {
			case i.Name == "lo":
				c.errorf(ip+".name", "lo is the host's loopback")
			case names[i.Name] != "":
				c.errorf(ip+".name", "duplicate interface name %s in host %s (also %s)", i.Name, h.Name, names[i.Name])
			default:
				names[i.Name] = ip
			}
		}
		seg, known := segs[i.Segment]
		if i.Segment == "" {
			c.errorf(ip+".segment", "required")
		} else if !known {
			c.errorf(ip+".segment", "unknown segment %q", i.Segment)
		}
		if i.Address.IsValid() {
			c.address(ip+".address", i.Address, seg, known, addrs)
		}
		if i.MAC != "" {
			c.mac(ip+".mac", i.MAC, macs)
		}
		if i.Impairment != nil {
			for _, p := range i.Impairment.Problems() {
				c.errorf(ip+"."+p.Field, "%s", p.Message)
			}
		}
	}
}

func (c *checker) address(f string, a netip.Prefix, seg Segment, known bool, seen map[netip.Addr]string) {
	if !a.Addr().Is4() {
		c.errorf(f, "%s: only IPv4 addresses are supported", a)
		return
	}
	if known && seg.Prefix.IsValid() {
		if !seg.Prefix.Contains(a.Addr()) {
			c.errorf(f, "%s is not inside segment %s (%s)", a, seg.Name, seg.Prefix)
			return
		}
		if seg.Prefix.Bits() <= 30 && (a.Addr() == seg.Prefix.Addr() || a.Addr() == lastAddr(seg.Prefix)) {
			c.errorf(f, "%s is the network or broadcast address of segment %s (%s)", a, seg.Name, seg.Prefix)
			return
		}
	}
	if first, dup := seen[a.Addr()]; dup {
		c.errorf(f, "duplicate address %s (also %s)", a.Addr(), first)
		return
	}
	seen[a.Addr()] = f
}

func (c *checker) mac(f, s string, seen map[string]string) {
	hw, err := net.ParseMAC(s)
	switch {
	case err != nil || len(hw) != 6:
		c.errorf(f, "%q is not an Ethernet MAC address such as 02:00:00:00:00:01", s)
		return
	case hw[0]&1 != 0:
		c.errorf(f, "%s is a multicast address; an interface needs a unicast one", hw)
		return
	case hw.String() == "00:00:00:00:00:00":
		c.errorf(f, "%s is not a usable address", hw)
		return
	}
	if first, dup := seen[hw.String()]; dup {
		c.errorf(f, "duplicate MAC %s (also %s)", hw, first)
		return
	}
	seen[hw.String()] = f
}

func (c *checker) routes(h *HostSpec, hp string) {
	dsts := map[netip.Prefix]string{}
	for k, r := range h.Routes {
		rp := fmt.Sprintf("%s.routes[%d]", hp, k)
		switch {
		case !r.To.IsValid():
			c.errorf(rp+".to", "required")
		case !r.To.Addr().Is4():
			c.errorf(rp+".to", "%s: only IPv4 routes are supported", r.To)
		case r.To != r.To.Masked():
			c.errorf(rp+".to", "%s is not a network prefix (did you mean %s?)", r.To, r.To.Masked())
		case dsts[r.To] != "":
			c.errorf(rp+".to", "duplicate route to %s (also %s)", r.To, dsts[r.To])
		default:
			dsts[r.To] = rp
		}
		switch {
		case !r.Via.IsValid():
			c.errorf(rp+".via", "required")
		case !r.Via.Is4():
			c.errorf(rp+".via", "%s: only IPv4 gateways are supported", r.Via)
		case !onLink(h, r.Via):
			c.errorf(rp+".via", "gateway %s is not on-link: no interface of host %s has an address in a prefix that holds it", r.Via, h.Name)
		}
	}
}

// bridge checks docker0's subnet (bridge:) against the host's own
// segments and routes. Docker takes an explicit --bip as given, but on a
// host whose interface already has the same prefix the kernel then holds
// two connected routes to it and answers only through one; and a route
// into docker0's subnet would send the host's own containers' traffic to
// a gateway. A route that merely covers the subnet (a default route, a
// /8) is fine: the connected route to docker0 is more specific.
func (c *checker) bridge(h *HostSpec, hp string, segs map[string]Segment) {
	if !h.Bridge.IsValid() || !h.Bridge.Addr().Is4() {
		return
	}
	sub := h.Bridge.Masked()
	for _, i := range h.Interfaces {
		if seg, ok := segs[i.Segment]; ok && seg.Prefix.IsValid() && seg.Prefix.Overlaps(sub) {
			c.errorf(hp+".bridge", "docker0's subnet %s overlaps segment %s (%s), on which host %s has interface %s: the host could not tell its containers from its neighbours", sub, seg.Name, seg.Prefix, h.Name, i.Name)
			return
		}
	}
	for k, r := range h.Routes {
		if r.To.IsValid() && r.To.Bits() >= sub.Bits() && sub.Contains(r.To.Addr()) {
			c.errorf(hp+".bridge", "docker0's subnet %s holds the destination of %s.routes[%d] (%s via %s): the host's own containers would be routed away", sub, hp, k, r.To, r.Via)
			return
		}
	}
}

// onLink reports whether a gateway lies in the prefix of one of the host's
// addresses but is not one of them, which is what the kernel needs to
// resolve it on that interface.
func onLink(h *HostSpec, via netip.Addr) bool {
	for _, i := range h.Interfaces {
		if i.Address.IsValid() && i.Address.Addr() != via && i.Address.Masked().Contains(via) {
			return true
		}
	}
	return false
}

func (c *checker) dns(h *HostSpec, hp string, segments []Segment) {
	for k, a := range h.DNS {
		f := fmt.Sprintf("%s.dns[%d]", hp, k)
		if !a.IsValid() {
			c.errorf(f, "required")
			continue
		}
		inside := false
		for _, s := range segments {
			inside = inside || (s.Prefix.IsValid() && s.Prefix.Contains(a))
		}
		if !inside {
			// A query to any other address would leave the lab.
			c.errorf(f, "resolver %s is not a lab address: it must lie inside one of the segments", a)
		}
	}
}

func (c *checker) containers(h *HostSpec, hp string, pins map[string]string) {
	if len(h.Containers) == 0 {
		return
	}
	if h.Kind == KindPlain {
		c.errorf(hp+".containers", "host %s is plain and runs no daemon; containers need kind %s", h.Name, KindDocker)
		return
	}
	names := map[string]int{}
	for k, ct := range h.Containers {
		f := fmt.Sprintf("%s.containers[%d].name", hp, k)
		switch {
		case ct.Name == "":
			c.errorf(f, "required")
		case !dockerNameRE.MatchString(ct.Name):
			c.errorf(f, "container name %q must match [a-zA-Z0-9][a-zA-Z0-9_.-]*", ct.Name)
		case names[ct.Name] != 0:
			c.errorf(f, "duplicate container name %s in host %s", ct.Name, h.Name)
		default:
			names[ct.Name] = k + 1
			if h.Name != "" {
				pin := h.Name + "-" + ct.Name
				if other := pins[pin]; other != "" {
					c.errorf(f, "container %s of host %s would share its namespace name %s with %s", ct.Name, h.Name, pin, other)
				} else {
					pins[pin] = "container " + ct.Name + " of host " + h.Name
				}
			}
		}
	}
	for k, ct := range h.Containers {
		f := fmt.Sprintf("%s.containers[%d].network", hp, k)
		target, isCtr := strings.CutPrefix(ct.Network, "container:")
		switch {
		case isCtr && names[target] == 0:
			c.errorf(f, "container:%s names no container of host %s", target, h.Name)
		case isCtr && target == ct.Name:
			c.errorf(f, "container %s cannot share its own network namespace", ct.Name)
		case isCtr && containerCycle(h.Containers, names, k):
			c.errorf(f, "containers of host %s share namespaces in a cycle through %s", h.Name, ct.Name)
		case !isCtr && !dockerNameRE.MatchString(ct.Network):
			c.errorf(f, "network %q: want none, host, bridge, container:NAME or a network name", ct.Network)
		}
	}
}

// containerCycle follows container:NAME links from container k and reports
// whether they come back to it.
func containerCycle(cs []ContainerSpec, index map[string]int, k int) bool {
	at := k
	for steps := 0; steps <= len(cs); steps++ {
		target, ok := strings.CutPrefix(cs[at].Network, "container:")
		if !ok || index[target] == 0 {
			return false
		}
		at = index[target] - 1
		if at == k {
			return true
		}
	}
	return true
}

// api checks where the host's daemon serves the Docker API: the socket
// inside the host, and TCP addresses of the host's own (or every address,
// or its loopback), each port once.
func (c *checker) api(h *HostSpec, hp string) {
	if len(h.API) > 0 && h.Kind != KindDocker {
		c.errorf(hp+".api", "host %s is %s and runs no daemon; api needs kind %s", h.Name, h.Kind, KindDocker)
		return
	}
	ports := map[uint16]netip.Addr{}
	seen := map[string]bool{}
	for k, a := range h.API {
		f := fmt.Sprintf("%s.api[%d]", hp, k)
		if seen[a] {
			c.errorf(f, "%s given twice", a)
			continue
		}
		seen[a] = true
		if a == APIUnix {
			continue
		}
		network, addr, err := hostdconfig.ParseDaemonHost(a)
		if err != nil || network != "tcp" {
			c.errorf(f, "%q: want unix (%s) or tcp://IP:PORT", a, APIUnix)
			continue
		}
		ap := netip.MustParseAddrPort(addr)
		ip := ap.Addr()
		if !ip.IsUnspecified() && ip != netip.AddrFrom4([4]byte{127, 0, 0, 1}) && !ownAddress(h, ip) {
			c.errorf(f, "%s is not an address of host %s: want one of its own, 0.0.0.0 or 127.0.0.1", ip, h.Name)
			continue
		}
		if other, dup := ports[ap.Port()]; dup && (other.IsUnspecified() || ip.IsUnspecified()) {
			c.errorf(f, "port %d is taken by %s:%d already", ap.Port(), other, ap.Port())
			continue
		}
		ports[ap.Port()] = ip
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	bits := p.Bits()
	for i := 0; i < 4; i++ {
		for b := 0; b < 8; b++ {
			if i*8+b >= bits {
				a[i] |= 0x80 >> b
			}
		}
	}
	return netip.AddrFrom4(a)
}

// etcdMemberRE is what etcd takes as a member name in --initial-cluster
// (package etcdmember's rule, which the lab does not link: it carries the
// etcd server).
var etcdMemberRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// The ports of a lab's etcd members: etcd's well-known client and peer ports.
const (
	EtcdClientPort = 2379
	EtcdPeerPort   = 2380
)

// Defaults of EtcdSettings, as package etcdmember has them.
const (
	defaultEtcdTickMs     = 50
	defaultEtcdElectionMs = 500
)

// etcd checks the etcd members, the cluster settings and every docker
// host's cluster store and advertise address.
func (c *checker) etcd(t *Topology) {
	members := map[netip.Addr]string{} // address -> member name
	names := map[string]string{}
	for i, h := range t.Hosts {
		if h.Etcd == nil {
			continue
		}
		ep := fmt.Sprintf("hosts[%d].etcd", i)
		switch m := h.Etcd; {
		case m.Name == "":
			c.errorf(ep+".name", "required")
		case !etcdMemberRE.MatchString(m.Name):
			c.errorf(ep+".name", "member name %q: want letters, digits, '.', '_' or '-', at most 63", m.Name)
		case names[m.Name] != "":
			c.errorf(ep+".name", "duplicate etcd member name %s (also %s)", m.Name, names[m.Name])
		default:
			names[m.Name] = ep + ".name"
		}
		switch a := h.Etcd.Address; {
		case !a.IsValid() && !hasAddress(&h):
			c.errorf(ep, "host %s has no interface address for its etcd member to listen on", h.Name)
		case !a.IsValid():
			c.errorf(ep+".address", "required")
		case !ownAddress(&h, a):
			c.errorf(ep+".address", "%s is not an address of host %s", a, h.Name)
		default:
			members[a] = h.Etcd.Name
		}
	}
	if e := t.Etcd; e != nil {
		if len(names) == 0 {
			c.errorf("etcd", "cluster settings, but no host is an etcd member (hosts[].etcd)")
		}
		if e.Token != "" && strings.ContainsAny(e.Token, " \t,=") {
			c.errorf("etcd.token", "token %q: want one word without ',' or '='", e.Token)
		}
		tick, election := e.TickMs, e.ElectionMs
		if tick == 0 {
			tick = defaultEtcdTickMs
		}
		if election == 0 {
			election = defaultEtcdElectionMs
		}
		switch {
		case election < 5*tick:
			c.errorf("etcd.election_ms", "election timeout %d ms is under 5 heartbeats of %d ms (etcd's rule)", election, tick)
		case election > 50000:
			c.errorf("etcd.election_ms", "election timeout %d ms is over etcd's limit of 50000", election)
		}
	}
	for i, h := range t.Hosts {
		hp := fmt.Sprintf("hosts[%d]", i)
		if h.ClusterStore == "" && h.ClusterAdvertise == "" {
			continue
		}
		if h.ClusterStore == "" {
			c.errorf(hp+".cluster_store", "required with cluster_advertise (dockerd's --cluster-store=etcd://IP:%d)", EtcdClientPort)
		} else {
			c.clusterStore(&h, hp+".cluster_store", members)
		}
		if h.ClusterAdvertise == "" {
			c.errorf(hp+".cluster_advertise", "required with cluster_store (dockerd's --cluster-advertise=IP:2375, IP an address of host %s)", h.Name)
		} else {
			c.clusterAdvertise(&h, hp+".cluster_advertise")
		}
	}
}

// clusterStore checks etcd://IP:2379: IP must be an etcd member's address,
// or 127.0.0.1 on a host that is a member itself.
func (c *checker) clusterStore(h *HostSpec, f string, members map[netip.Addr]string) {
	rest, ok := strings.CutPrefix(h.ClusterStore, "etcd://")
	if !ok {
		c.errorf(f, "%q: want etcd://IP:%d (the lab runs etcd members only)", h.ClusterStore, EtcdClientPort)
		return
	}
	ap, err := netip.ParseAddrPort(rest)
	if err != nil {
		c.errorf(f, "%q: want etcd://IP:%d with IP an etcd member's address", h.ClusterStore, EtcdClientPort)
		return
	}
	if ap.Port() != EtcdClientPort {
		c.errorf(f, "%q: etcd members serve clients on port %d, not %d", h.ClusterStore, EtcdClientPort, ap.Port())
		return
	}
	a := ap.Addr()
	if a.IsLoopback() {
		if h.Etcd == nil {
			c.errorf(f, "%q: host %s is no etcd member; name a member's address", h.ClusterStore, h.Name)
		} else if a != netip.AddrFrom4([4]byte{127, 0, 0, 1}) {
			c.errorf(f, "%q: a member serves its host's loopback on 127.0.0.1 only", h.ClusterStore)
		}
		return
	}
	if _, ok := members[a]; !ok {
		var known []string
		for addr, name := range members {
			known = append(known, name+" "+addr.String())
		}
		sort.Strings(known)
		if len(known) == 0 {
			c.errorf(f, "%q: no host is an etcd member (hosts[].etcd)", h.ClusterStore)
			return
		}
		c.errorf(f, "%q: %s is no etcd member's address (members: %s)", h.ClusterStore, a, strings.Join(known, ", "))
	}
}

// clusterAdvertise checks IP:PORT with IP one of the host's own addresses.
func (c *checker) clusterAdvertise(h *HostSpec, f string) {
	ap, err := netip.ParseAddrPort(h.ClusterAdvertise)
	switch {
	case err != nil:
		c.errorf(f, "%q: want IP:PORT, such as 192.168.8.150:2375, with IP an address of host %s", h.ClusterAdvertise, h.Name)
	case ap.Port() == 0:
		c.errorf(f, "%q: port 0", h.ClusterAdvertise)
	case !ownAddress(h, ap.Addr()):
		c.errorf(f, "%s is not an address of host %s: a daemon advertises one of its own", ap.Addr(), h.Name)
	}
}

func hasAddress(h *HostSpec) bool {
	for _, i := range h.Interfaces {
		if i.Address.IsValid() {
			return true
		}
	}
	return false
}

func ownAddress(h *HostSpec, a netip.Addr) bool {
	for _, i := range h.Interfaces {
		if i.Address.IsValid() && i.Address.Addr() == a {
			return true
		}
	}
	return false
}
