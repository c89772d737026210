package check

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"
	"go.yaml.in/yaml/v3"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// at is the endpoint a state check looks at.
type at struct{ At endpoint }

func (a at) endpoints() []endpoint { return []endpoint{a.At} }

func parseAt(p *parser, vals map[string]*yaml.Node, kp, key string) (at, bool) {
	e := get(p, vals, kp, key, parseEndpoint)
	return at{e}, e != (endpoint{})
}

// hostOnly refuses a container or pinned namespace where only a host's
// own state makes sense (its daemon, firewall, etcd member).
func (p *parser) hostOnly(a at, vals map[string]*yaml.Node, kp, key string) bool {
	if a.At.Container != "" || a.At.NetNS != "" {
		p.Errorf(vals[key].Line, kp+"."+key, "%s: name a host", a.At)
		return false
	}
	return true
}

// networkSpec is a network as a docker host's daemon reports it.
type networkSpec struct {
	at
	Name, Driver, Scope string
	Subnet              netip.Prefix
	Gateway             netip.Addr
	Containers          []string
}

func parseNetwork(p *parser, vals map[string]*yaml.Node, kp string) spec {
	a, ok := parseAt(p, vals, kp, "host")
	if !ok || !p.hostOnly(a, vals, kp, "host") {
		return nil
	}
	s := &networkSpec{at: a}
	s.Name = get(p, vals, kp, "name", str)
	s.Driver = get(p, vals, kp, "driver", str)
	s.Scope = get(p, vals, kp, "scope", str)
	s.Subnet = get(p, vals, kp, "subnet", netip.ParsePrefix)
	s.Gateway = get(p, vals, kp, "gateway", netip.ParseAddr)
	if v, ok := vals["containers"]; ok {
		s.Containers = p.list(v, kp+".containers")
	}
	return s
}

func (s *networkSpec) describe() string { return fmt.Sprintf("network %s on %s", s.Name, s.At) }

func (s *networkSpec) expected(negate bool) string {
	if negate {
		return fmt.Sprintf("no network %s on %s", s.Name, s.At)
	}
	with := attrs("driver", s.Driver, "scope", s.Scope, "subnet", addrString(s.Subnet), "gateway", addrString(s.Gateway), "containers", strings.Join(s.Containers, ", "))
	if len(with) == 0 {
		return fmt.Sprintf("a network %s on %s", s.Name, s.At)
	}
	return fmt.Sprintf("a network %s on %s with %s", s.Name, s.At, strings.Join(with, ", "))
}

func addrString(a interface{ IsValid() bool }) string {
	if !a.IsValid() {
		return ""
	}
	return fmt.Sprint(a)
}

func (s *networkSpec) look(ctx context.Context, e *env, _ time.Time) (bool, bool, string, error) {
	c, err := e.docker(s.At.Host)
	if err != nil {
		return false, false, "", err
	}
	list, err := c.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return false, false, "", fmt.Errorf("%s: network ls: %w", s.At, err)
	}
	var names []string
	found := false
	for _, n := range list.Items {
		names = append(names, n.Name)
		found = found || n.Name == s.Name
	}
	sort.Strings(names)
	if !found {
		return false, false, fmt.Sprintf("no network %s; %s has %s", s.Name, s.At, orNone(names)), nil
	}
	r, err := c.NetworkInspect(ctx, s.Name, client.NetworkInspectOptions{})
	if err != nil {
		return false, false, "", fmt.Errorf("%s: network inspect %s: %w", s.At, s.Name, err)
	}
	n := r.Network
	var subnets, gateways, ctrs []string
	for _, cfg := range n.IPAM.Config {
		subnets = append(subnets, addrString(cfg.Subnet))
		gateways = append(gateways, addrString(cfg.Gateway))
	}
	for _, ep := range n.Containers {
		ctrs = append(ctrs, ep.Name)
	}
	sort.Strings(ctrs)
	seen := fmt.Sprintf("network %s: driver %s, scope %s, subnet %s, gateway %s, containers %s",
		n.Name, n.Driver, n.Scope, orNone(subnets), orNone(nonEmpty(gateways...)), orNone(ctrs))
	ok := (s.Driver == "" || n.Driver == s.Driver) && (s.Scope == "" || n.Scope == s.Scope) &&
		(!s.Subnet.IsValid() || slices.Contains(subnets, s.Subnet.String())) &&
		(!s.Gateway.IsValid() || slices.Contains(gateways, s.Gateway.String()))
	for _, want := range s.Containers {
		ok = ok && slices.Contains(ctrs, want)
	}
	if s.Driver == "" && s.Scope == "" && !s.Subnet.IsValid() && !s.Gateway.IsValid() && len(s.Containers) == 0 {
		ok = true
	}
	return ok, false, seen, nil
}

// routeSpec is a route of a namespace's main table.
type routeSpec struct {
	at
	To  netip.Prefix
	Via netip.Addr
	Dev string
}

func parseRoute(p *parser, vals map[string]*yaml.Node, kp string) spec {
	a, ok := parseAt(p, vals, kp, "at")
	s := &routeSpec{at: a}
	s.To = get(p, vals, kp, "to", func(v string) (netip.Prefix, error) {
		if v == "default" {
			return netip.PrefixFrom(netip.IPv4Unspecified(), 0), nil
		}
		pf, err := netip.ParsePrefix(v)
		if err != nil || pf != pf.Masked() {
			return pf, fmt.Errorf("%q: want default or a network prefix such as 172.17.0.0/16", v)
		}
		return pf, nil
	})
	s.Via = get(p, vals, kp, "via", netip.ParseAddr)
	s.Dev = get(p, vals, kp, "dev", str)
	if !ok || !s.To.IsValid() {
		return nil
	}
	return s
}

func (s *routeSpec) words() string {
	w := routeDst(s.To)
	if s.Via.IsValid() {
		w += " via " + s.Via.String()
	}
	if s.Dev != "" {
		w += " dev " + s.Dev
	}
	return w
}

func routeDst(p netip.Prefix) string {
	if p.Bits() == 0 {
		return "default"
	}
	return p.String()
}

func (s *routeSpec) describe() string { return fmt.Sprintf("route %s on %s", s.words(), s.At) }

func (s *routeSpec) expected(negate bool) string {
	return expectation(negate, "a", fmt.Sprintf("route %s on %s", s.words(), s.At))
}

func (s *routeSpec) look(ctx context.Context, e *env, _ time.Time) (bool, bool, string, error) {
	ns, err := e.netns(ctx, s.At)
	if err != nil {
		return false, false, "", err
	}
	routes, err := kernel.Routes(ns, netlink.FAMILY_V4, kernel.MainTable)
	if err != nil {
		return false, false, "", fmt.Errorf("%s: %w", s.At, err)
	}
	var seen []string
	holds := false
	for _, r := range routes {
		seen = append(seen, r.String())
		holds = holds || (r.Dst == routeDst(s.To) && (!s.Via.IsValid() || r.Gw == s.Via.String()) && (s.Dev == "" || r.Dev == s.Dev))
	}
	return holds, false, "routes: " + orNone(seen), nil
}

// forwardingSpec is a namespace's net.ipv4.ip_forward.
type forwardingSpec struct {
	at
	Enabled bool
}

func parseForwarding(p *parser, vals map[string]*yaml.Node, kp string) spec {
	a, ok := parseAt(p, vals, kp, "at")
	s := &forwardingSpec{at: a, Enabled: true}
	if v, given := vals["enabled"]; given {
		s.Enabled = p.Bool(v, kp+".enabled")
	}
	if !ok {
		return nil
	}
	return s
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func (s *forwardingSpec) describe() string {
	return fmt.Sprintf("forwarding %s on %s", onOff(s.Enabled), s.At)
}

func (s *forwardingSpec) expected(bool) string {
	return fmt.Sprintf("net.ipv4.ip_forward = %d on %s", map[bool]int{false: 0, true: 1}[s.Enabled], s.At)
}

func (s *forwardingSpec) look(ctx context.Context, e *env, _ time.Time) (bool, bool, string, error) {
	ns, err := e.netns(ctx, s.At)
	if err != nil {
		return false, false, "", err
	}
	v, err := kernel.Sysctl(ns, "net.ipv4.ip_forward")
	if err != nil {
		return false, false, "", fmt.Errorf("%s: %w", s.At, err)
	}
	return (v == "1") == s.Enabled, false, "net.ipv4.ip_forward = " + v, nil
}

// interfaceSpec is an interface of a namespace as the kernel has it.
type interfaceSpec struct {
	at
	Name, Kind, Master string
	Address            netip.Prefix
	MAC                net.HardwareAddr
	Up                 *bool
}

func parseInterface(p *parser, vals map[string]*yaml.Node, kp string) spec {
	a, ok := parseAt(p, vals, kp, "at")
	s := &interfaceSpec{at: a}
	s.Name = get(p, vals, kp, "name", str)
	s.Kind = get(p, vals, kp, "kind", str)
	s.Master = get(p, vals, kp, "master", str)
	s.Address = get(p, vals, kp, "address", netip.ParsePrefix)
	s.MAC = get(p, vals, kp, "mac", net.ParseMAC)
	if v, given := vals["up"]; given {
		up := p.Bool(v, kp+".up")
		s.Up = &up
	}
	if !ok || s.Name == "" {
		return nil
	}
	return s
}

func (s *interfaceSpec) describe() string { return fmt.Sprintf("interface %s of %s", s.Name, s.At) }

func (s *interfaceSpec) expected(negate bool) string {
	if negate {
		return fmt.Sprintf("no interface %s in %s", s.Name, s.At)
	}
	var with []string
	if s.Up != nil {
		with = append(with, upDown(*s.Up))
	}
	with = append(with, attrs("kind", s.Kind, "address", addrString(s.Address), "mac", s.MAC.String(), "master", s.Master)...)
	if len(with) == 0 {
		return fmt.Sprintf("an interface %s in %s", s.Name, s.At)
	}
	return fmt.Sprintf("an interface %s in %s: %s", s.Name, s.At, strings.Join(with, ", "))
}

func (s *interfaceSpec) look(ctx context.Context, e *env, _ time.Time) (bool, bool, string, error) {
	ns, err := e.netns(ctx, s.At)
	if err != nil {
		return false, false, "", err
	}
	links, err := kernel.Links(ns)
	if err != nil {
		return false, false, "", fmt.Errorf("%s: %w", s.At, err)
	}
	var all []string
	for _, l := range links {
		all = append(all, l.Name)
		if l.Name != s.Name {
			continue
		}
		seen := fmt.Sprintf("%s: %s, %s", l.Name, upDown(l.Up), strings.Join(attrs("kind", l.Kind, "addresses", orNone(l.Addrs), "mac", l.MAC, "master", l.Master), ", "))
		ok := (s.Up == nil || *s.Up == l.Up) && (s.Kind == "" || l.Kind == s.Kind) &&
			(s.Master == "" || l.Master == s.Master) &&
			(!s.Address.IsValid() || slices.Contains(l.Addrs, s.Address.String())) &&
			(s.MAC == nil || l.MAC == s.MAC.String())
		return ok, false, seen, nil
	}
	return false, false, fmt.Sprintf("no %s; %s has %s", s.Name, s.At, strings.Join(all, ", ")), nil
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

// expectation says what a check expects of a thing it looks for: "no
// <what>" when negated (expect: absent), else "<article> <what>".
func expectation(negate bool, article, what string) string {
	if negate {
		return "no " + what
	}
	return article + " " + what
}

// attrs pairs names with values, "name value", leaving out empty values.
func attrs(kv ...string) []string {
	var out []string
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			out = append(out, kv[i]+" "+kv[i+1])
		}
	}
	return out
}

// fdbSpec is a MAC address a bridge has in its forwarding table.
type fdbSpec struct {
	at
	Bridge string
	MAC    net.HardwareAddr
}

func parseFDB(p *parser, vals map[string]*yaml.Node, kp string) spec {
	a, ok := parseAt(p, vals, kp, "at")
	s := &fdbSpec{at: a}
	s.Bridge = get(p, vals, kp, "bridge", str)
	s.MAC = get(p, vals, kp, "mac", net.ParseMAC)
	if !ok || s.Bridge == "" || s.MAC == nil {
		return nil
	}
	return s
}

func (s *fdbSpec) describe() string { return fmt.Sprintf("fdb %s on %s of %s", s.MAC, s.Bridge, s.At) }

func (s *fdbSpec) expected(negate bool) string {
	if negate {
		return fmt.Sprintf("%s not in the forwarding table of %s in %s", s.MAC, s.Bridge, s.At)
	}
	return fmt.Sprintf("%s in the forwarding table of %s in %s", s.MAC, s.Bridge, s.At)
}

func (s *fdbSpec) look(ctx context.Context, e *env, _ time.Time) (bool, bool, string, error) {
	ns, err := e.netns(ctx, s.At)
	if err != nil {
		return false, false, "", err
	}
	entries, err := kernel.FDB(ns, s.Bridge)
	if err != nil {
		return false, false, fmt.Sprintf("no forwarding table of %s in %s: %v", s.Bridge, s.At, err), nil
	}
	var learned []string
	for _, n := range entries {
		learned = append(learned, n.MAC+" on "+n.Port)
		if n.MAC == s.MAC.String() {
			return true, false, n.MAC + " on " + n.Port, nil
		}
	}
	return false, false, fmt.Sprintf("%s holds %s", s.Bridge, orNone(learned)), nil
}

// namespaceSpec says two endpoints share one network namespace (or, with
// expect: absent, that they do not), as the kernel tells by the inode.
type namespaceSpec struct {
	at
	SameAs endpoint
}

func parseNamespace(p *parser, vals map[string]*yaml.Node, kp string) spec {
	a, ok := parseAt(p, vals, kp, "at")
	other := get(p, vals, kp, "same_as", parseEndpoint)
	if !ok || other == (endpoint{}) {
		return nil
	}
	return &namespaceSpec{at: a, SameAs: other}
}

func (s *namespaceSpec) endpoints() []endpoint { return []endpoint{s.At, s.SameAs} }

func (s *namespaceSpec) describe() string {
	return fmt.Sprintf("namespace of %s is %s's", s.At, s.SameAs)
}

func (s *namespaceSpec) expected(negate bool) string {
	if negate {
		return fmt.Sprintf("%s in a network namespace of its own, not %s's", s.At, s.SameAs)
	}
	return fmt.Sprintf("%s in the network namespace of %s", s.At, s.SameAs)
}

func (s *namespaceSpec) look(ctx context.Context, e *env, _ time.Time) (bool, bool, string, error) {
	var inodes [2]uint64
	for i, ep := range []endpoint{s.At, s.SameAs} {
		ns, err := e.netns(ctx, ep)
		if err != nil {
			return false, false, "", err
		}
		if inodes[i], err = netns.Inode(ns); err != nil {
			return false, false, "", err
		}
	}
	return inodes[0] == inodes[1], false, fmt.Sprintf("%s: net:[%d], %s: net:[%d]", s.At, inodes[0], s.SameAs, inodes[1]), nil
}

// etcHostsSpec is a name in a container's /etc/hosts, the file its
// resolver reads before any DNS server: Docker writes --link's aliases
// there.
type etcHostsSpec struct {
	at
	Name   string
	Answer target
}

func parseEtcHosts(p *parser, vals map[string]*yaml.Node, kp string) spec {
	a, ok := parseAt(p, vals, kp, "at")
	s := &etcHostsSpec{at: a}
	s.Name = get(p, vals, kp, "name", str)
	s.Answer = get(p, vals, kp, "answer", parseTarget)
	if !ok || s.Name == "" {
		return nil
	}
	if a.At.Container == "" {
		p.Errorf(vals["at"].Line, kp+".at", "%s: name a container (HOST/CONTAINER)", a.At)
		return nil
	}
	return s
}

func (s *etcHostsSpec) endpoints() []endpoint {
	if s.Answer.At != (endpoint{}) {
		return []endpoint{s.At, s.Answer.At}
	}
	return []endpoint{s.At}
}

func (s *etcHostsSpec) describe() string { return fmt.Sprintf("%s in /etc/hosts of %s", s.Name, s.At) }

func (s *etcHostsSpec) expected(negate bool) string {
	switch {
	case negate:
		return fmt.Sprintf("no line for %s in /etc/hosts of %s", s.Name, s.At)
	case s.Answer.IP.IsValid() || s.Answer.At != (endpoint{}):
		return fmt.Sprintf("%s mapped to the address of %s in /etc/hosts of %s", s.Name, s.Answer, s.At)
	}
	return fmt.Sprintf("a line for %s in /etc/hosts of %s", s.Name, s.At)
}

func (s *etcHostsSpec) look(ctx context.Context, e *env, _ time.Time) (bool, bool, string, error) {
	c, err := e.container(ctx, s.At.Host, s.At.Container)
	if err != nil {
		return false, false, "", err
	}
	if c.State == nil || c.State.Pid <= 0 {
		return false, false, "", fmt.Errorf("%s is not running", s.At)
	}
	// The file as the container's own mount namespace shows it.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/etc/hosts", c.State.Pid))
	if err != nil {
		return false, false, "", fmt.Errorf("%s: %w", s.At, err)
	}
	var want netip.Addr
	if s.Answer.IP.IsValid() || s.Answer.At != (endpoint{}) {
		if want, err = e.address(ctx, s.Answer, s.At); err != nil {
			return false, false, "", err
		}
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || !slices.Contains(f[1:], s.Name) {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err == nil && (!want.IsValid() || a == want) {
			return true, false, strings.TrimSpace(line), nil
		}
	}
	return false, false, fmt.Sprintf("/etc/hosts of %s:\n%s", s.At, strings.TrimSpace(string(b))), nil
}
