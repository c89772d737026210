package lab

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// resetNS puts the namespace at pin back to base: links made since go
// (and with them their addresses and routes), links of base get back
// their state, then addresses, routes, rules, sysctls, qdiscs and the
// firewall rulesets; connection tracking and the neighbour caches are
// emptied, as a fresh namespace has them. A link of base that is gone
// cannot come back: it was made by up with its peer elsewhere. It returns
// the namespace as it is afterwards.
func resetNS(pin string, base *nsState) (*nsState, error) {
	now, err := readNS(pin, base)
	if err != nil {
		return nil, err
	}
	h, err := netns.Handle(pin)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if err := flushTracking(h); err != nil {
		return nil, fmt.Errorf("%s: %w", pin, err)
	}
	if slices.Equal(now.facts(base), base.facts(nil)) {
		return now, nil
	}
	if err := resetLinks(h, now.Links, base.Links); err != nil {
		return nil, fmt.Errorf("%s: %w", pin, err)
	}
	errs := []error{
		resetAddrs(h, pin, base.Addrs),
		resetRoutes(h, pin, base.Routes),
		resetRules(h, pin, base.Rules),
		resetSysctls(pin, now.Sysctls, base.Sysctls),
		resetQdiscs(h, now.Qdiscs, base.Qdiscs),
		resetRulesets(pin, now, base),
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", pin, err)
	}
	return readNS(pin, now)
}

// resetLinks deletes the links base lacks and gives base's links back
// their administrative state, MTU, MAC, promiscuity and master.
func resetLinks(h *netlink.Handle, now, base []kernel.Link) error {
	var errs []error
	for _, l := range now {
		if slices.ContainsFunc(base, func(b kernel.Link) bool { return b.Name == l.Name }) {
			continue
		}
		// A veth's peer goes with it: one already gone is fine.
		if err := h.LinkDel(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: l.Index}}); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("delete link %s: %w", l.Name, err))
		}
	}
	byName := map[string]kernel.Link{}
	for _, l := range now {
		byName[l.Name] = l
	}
	for _, b := range base {
		l, ok := byName[b.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("%w: link %s was deleted", ErrNotResettable, b.Name))
			continue
		}
		if err := restoreLink(h, l, b); err != nil {
			errs = append(errs, fmt.Errorf("link %s: %w", b.Name, err))
		}
	}
	return errors.Join(errs...)
}

// restoreLink sets what of link l differs from b.
func restoreLink(h *netlink.Handle, l, b kernel.Link) error {
	if linkEqual(l, b) {
		return nil
	}
	nl, err := h.LinkByName(l.Name)
	if err != nil {
		return err
	}
	var errs []error
	if l.Master != b.Master {
		if b.Master == "" {
			errs = append(errs, h.LinkSetNoMaster(nl))
		} else if m, err := h.LinkByName(b.Master); err != nil {
			errs = append(errs, err)
		} else {
			errs = append(errs, h.LinkSetMaster(nl, m))
		}
	}
	if l.MTU != b.MTU {
		errs = append(errs, h.LinkSetMTU(nl, b.MTU))
	}
	if l.MAC != b.MAC && b.MAC != "" {
		if mac, err := net.ParseMAC(b.MAC); err == nil {
			errs = append(errs, h.LinkSetHardwareAddr(nl, mac))
		}
	}
	if l.Promisc != b.Promisc {
		set := h.SetPromiscOff
		if b.Promisc {
			set = h.SetPromiscOn
		}
		errs = append(errs, set(nl))
	}
	if l.Up != b.Up {
		set := h.LinkSetDown
		if b.Up {
			set = h.LinkSetUp
		}
		errs = append(errs, set(nl))
	}
	return errors.Join(errs...)
}

// linkEqual compares what resetLinks restores.
func linkEqual(a, b kernel.Link) bool {
	return a.Kind == b.Kind && a.MAC == b.MAC && a.MTU == b.MTU && a.Master == b.Master && a.Up == b.Up && a.Promisc == b.Promisc
}

// resetAddrs deletes the addresses base lacks and adds those it has.
func resetAddrs(h *netlink.Handle, pin string, base []kernel.Addr) error {
	now, err := kernel.Addrs(pin, netlink.FAMILY_ALL)
	if err != nil {
		return err
	}
	return reconcile(now, base, nil,
		func(a kernel.Addr) error { return addrDo(h, a, h.AddrDel) },
		func(a kernel.Addr) error { return addrDo(h, a, h.AddrAdd) })
}

// reconcile makes now what base is: del takes away each entry of now that
// base lacks, then add puts back each entry of base that now lacks and
// that comes back by hand (restorable; nil: all do). It returns every
// failure.
func reconcile[T comparable](now, base []T, restorable func(T) bool, del, add func(T) error) error {
	var errs []error
	for _, x := range now {
		if !slices.Contains(base, x) {
			errs = append(errs, del(x))
		}
	}
	for _, x := range base {
		if !slices.Contains(now, x) && (restorable == nil || restorable(x)) {
			errs = append(errs, add(x))
		}
	}
	return errors.Join(errs...)
}

func addrDo(h *netlink.Handle, a kernel.Addr, do func(netlink.Link, *netlink.Addr) error) error {
	l, err := h.LinkByName(a.Dev)
	if err != nil {
		return fmt.Errorf("address %s: %w", a, err)
	}
	na, err := netlink.ParseAddr(a.CIDR)
	if err != nil {
		return fmt.Errorf("address %s: %w", a, err)
	}
	if err := do(l, na); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("address %s: %w", a, err)
	}
	return nil
}

// resetRoutes deletes the routes base lacks and adds back those it has
// that are not the kernel's own (those come back with their addresses).
func resetRoutes(h *netlink.Handle, pin string, base []kernel.Route) error {
	now, err := kernel.Routes(pin, netlink.FAMILY_ALL, kernel.AllTables)
	if err != nil {
		return err
	}
	notKernel := func(r kernel.Route) bool { return r.Protocol != "kernel" && r.Table != kernel.LocalTable }
	return reconcile(now, base, notKernel,
		func(r kernel.Route) error { return routeDo(h, r, h.RouteDel) },
		func(r kernel.Route) error { return routeDo(h, r, h.RouteAdd) })
}

// routeDo adds or deletes r. A route that went meanwhile (with the
// address it came from) is gone as wanted.
func routeDo(h *netlink.Handle, r kernel.Route, do func(*netlink.Route) error) error {
	nr, err := netlinkRoute(h, r)
	if err == nil {
		err = do(nr)
	}
	if err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("route %s: %w", routeFact(r), err)
	}
	return nil
}

// netlinkRoute is r as netlink takes it.
func netlinkRoute(h *netlink.Handle, r kernel.Route) (*netlink.Route, error) {
	nr := &netlink.Route{Table: r.Table, Priority: r.Metric, Gw: net.ParseIP(r.Gw), Src: net.ParseIP(r.Src)}
	if r.Dev != "" {
		l, err := h.LinkByName(r.Dev)
		if err != nil {
			return nil, err
		}
		nr.LinkIndex = l.Attrs().Index
	}
	if r.Dst != "default" {
		_, dst, err := net.ParseCIDR(r.Dst)
		if err != nil {
			return nil, err
		}
		nr.Dst = dst
	} else if nr.Gw != nil && nr.Gw.To4() == nil {
		nr.Family = unix.AF_INET6
	}
	for s, name := range map[netlink.Scope]string{netlink.SCOPE_UNIVERSE: "universe", netlink.SCOPE_LINK: "link", netlink.SCOPE_HOST: "host", netlink.SCOPE_SITE: "site"} {
		if r.Scope == name || r.Scope == s.String() {
			nr.Scope = s
		}
	}
	var p netlink.RouteProtocol
	for _, c := range []netlink.RouteProtocol{unix.RTPROT_BOOT, unix.RTPROT_STATIC, unix.RTPROT_KERNEL, unix.RTPROT_DHCP, unix.RTPROT_RA} {
		if c.String() == r.Protocol {
			p = c
		}
	}
	nr.Protocol = p
	for t, name := range routeTypeNames {
		if name == r.Type {
			nr.Type = t
		}
	}
	return nr, nil
}

var routeTypeNames = map[int]string{
	unix.RTN_UNICAST: "", unix.RTN_BLACKHOLE: "blackhole", unix.RTN_UNREACHABLE: "unreachable",
	unix.RTN_PROHIBIT: "prohibit", unix.RTN_THROW: "throw",
}

// resetRules deletes the policy rules base lacks and adds back those it
// has.
func resetRules(h *netlink.Handle, pin string, base []kernel.Rule) error {
	now, err := kernel.Rules(pin, netlink.FAMILY_ALL)
	if err != nil {
		return err
	}
	return reconcile(now, base, nil,
		func(r kernel.Rule) error { return ruleDo(r, h.RuleDel, unix.ENOENT) },
		func(r kernel.Rule) error { return ruleDo(r, h.RuleAdd, unix.EEXIST) })
}

// ruleDo adds or deletes r; done is the error that says it was done
// already.
func ruleDo(r kernel.Rule, do func(*netlink.Rule) error, done error) error {
	if err := do(netlinkRule(r)); err != nil && !errors.Is(err, done) {
		return fmt.Errorf("rule %s: %w", r, err)
	}
	return nil
}

func netlinkRule(r kernel.Rule) *netlink.Rule {
	nr := netlink.NewRule()
	nr.Priority, nr.Table = r.Priority, r.Table
	if r.Mark != 0 {
		nr.Mark = r.Mark
	}
	for _, s := range []struct {
		cidr string
		set  **net.IPNet
	}{{r.Src, &nr.Src}, {r.Dst, &nr.Dst}} {
		if _, n, err := net.ParseCIDR(s.cidr); err == nil {
			*s.set = n
			if n.IP.To4() == nil {
				nr.Family = unix.AF_INET6
			}
		}
	}
	return nr
}

// resetSysctls writes back base's values where now differs. The
// conf/all and conf/default switches (and ip_forward, which is
// conf/all/forwarding) change every link's own as they are written, so
// they go first, and when one was written the values are read again and
// what they overwrote is set back.
func resetSysctls(pin string, now, base map[string]string) error {
	return netns.Do(pin, func() error {
		var errs []error
		for pass := 0; pass < 2; pass++ {
			var keys []string
			for k, v := range base {
				if cur, ok := now[k]; ok && cur != v {
					keys = append(keys, k)
				}
			}
			slices.SortFunc(keys, func(a, b string) int { return sysctlOrder(a) - sysctlOrder(b) })
			errs = errs[:0]
			for _, k := range keys {
				if err := writeSysctl(k, base[k]); err != nil {
					errs = append(errs, err)
				}
			}
			if len(keys) == 0 || sysctlOrder(keys[0]) == 2 {
				break
			}
			now = map[string]string{}
			for k := range base {
				if v, err := netns.ReadSysctl(k); err == nil {
					now[k] = v
				}
			}
		}
		return errors.Join(errs...)
	})
}

func sysctlOrder(key string) int {
	switch {
	case strings.HasSuffix(key, "/ip_forward"), strings.Contains(key, "/conf/all/"):
		return 0
	case strings.Contains(key, "/conf/default/"):
		return 1
	}
	return 2
}

// resetQdiscs deletes the root and ingress qdiscs base lacks; the link's
// default one comes back by itself.
func resetQdiscs(h *netlink.Handle, now, base []kernel.Qdisc) error {
	var errs []error
	for _, q := range now {
		if slices.Contains(base, q) || (q.Parent != "root" && q.Kind != "ingress" && q.Kind != "clsact") {
			continue
		}
		l, err := h.LinkByName(q.Dev)
		if err != nil {
			continue // went with its link
		}
		parent := uint32(netlink.HANDLE_ROOT)
		if q.Kind == "ingress" || q.Kind == "clsact" {
			parent = netlink.HANDLE_INGRESS
		}
		qd := &netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Parent: parent}, QdiscType: q.Kind}
		if err := h.QdiscDel(qd); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("qdisc %s: %w", q, err))
		}
	}
	return errors.Join(errs...)
}

// flushTracking empties the connection tracking table and the neighbour
// entries the kernel learnt (not the permanent ones), as in a namespace
// just made: an old NAT mapping or a stale neighbour must not decide the
// next exercise's first packet.
func flushTracking(h *netlink.Handle) error {
	var errs []error
	if err := h.ConntrackTableFlush(netlink.ConntrackTable); err != nil && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("conntrack flush: %w", err))
	}
	ns, err := netns.NeighList(h, 0, netlink.FAMILY_ALL)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, n := range ns {
		if n.State&(netlink.NUD_PERMANENT|netlink.NUD_NOARP) != 0 {
			continue
		}
		if err := h.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("neighbour %s: %w", n.IP, err))
		}
	}
	return errors.Join(errs...)
}
