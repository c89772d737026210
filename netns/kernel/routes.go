package kernel

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// The routing tables a caller names most: unix.RT_TABLE_MAIN is what
// `ip route` shows, RT_TABLE_LOCAL the kernel's own local and broadcast
// routes; AllTables every table at once.
const (
	MainTable  = unix.RT_TABLE_MAIN
	LocalTable = unix.RT_TABLE_LOCAL
	AllTables  = unix.RT_TABLE_UNSPEC
)

// Route is one route as the kernel reports it.
type Route struct {
	Table int `json:"table"`
	// Dst is "default" or the destination prefix, as `ip route` writes it.
	Dst   string `json:"dst"`
	Gw    string `json:"gw,omitempty"`
	Dev   string `json:"dev,omitempty"`
	Src   string `json:"src,omitempty"`
	Scope string `json:"scope"`
	// Protocol is who made the route: kernel, boot, static, ...
	Protocol string `json:"protocol"`
	// Metric is the route's priority (ip route's metric), 0 when unset.
	Metric int `json:"metric,omitempty"`
	// Type is the route type when it is not unicast: local, broadcast,
	// blackhole, unreachable, ...
	Type string `json:"type,omitempty"`
}

// String is the route as `ip route` starts its line: "DST [via GW] dev DEV".
func (r Route) String() string {
	s := r.Dst
	if r.Gw != "" {
		s += " via " + r.Gw
	}
	return s + " dev " + r.Dev
}

// Routes dumps the routes of family in table (MainTable, LocalTable,
// AllTables, or any table id) of the namespace at ns, sorted by table,
// destination, device and gateway.
func Routes(ns string, family, table int) ([]Route, error) {
	return read(ns, func(v *view) ([]Route, error) {
		rs, err := netns.RouteListFiltered(v.h, family, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return nil, fmt.Errorf("%s: routes: %w", ns, err)
		}
		out := make([]Route, 0, len(rs))
		for _, r := range rs {
			out = append(out, route(r, v.names))
		}
		slices.SortFunc(out, func(a, b Route) int {
			return cmp.Or(cmp.Compare(a.Table, b.Table), strings.Compare(a.Dst, b.Dst), strings.Compare(a.Dev, b.Dev), strings.Compare(a.Gw, b.Gw))
		})
		return out, nil
	})
}

// route is r as `ip route` shows it, its device named.
func route(r netlink.Route, names map[int]string) Route {
	rt := Route{Table: r.Table, Dst: "default", Dev: names[r.LinkIndex], Scope: r.Scope.String(), Protocol: r.Protocol.String(), Metric: r.Priority}
	if r.Type != unix.RTN_UNICAST {
		rt.Type = routeTypes[r.Type]
		if rt.Type == "" {
			rt.Type = fmt.Sprint(r.Type)
		}
	}
	// Newer kernels and netlink report a default route's destination as
	// 0.0.0.0/0 rather than leaving it out; `ip route` says default.
	if r.Dst != nil {
		if ones, _ := r.Dst.Mask.Size(); ones > 0 {
			rt.Dst = r.Dst.String()
		}
	}
	if r.Gw != nil {
		rt.Gw = r.Gw.String()
	}
	if r.Src != nil {
		rt.Src = r.Src.String()
	}
	return rt
}

// routeTypes name the route types as `ip route` does.
var routeTypes = map[int]string{
	unix.RTN_LOCAL: "local", unix.RTN_BROADCAST: "broadcast", unix.RTN_ANYCAST: "anycast",
	unix.RTN_MULTICAST: "multicast", unix.RTN_BLACKHOLE: "blackhole", unix.RTN_UNREACHABLE: "unreachable",
	unix.RTN_PROHIBIT: "prohibit", unix.RTN_THROW: "throw", unix.RTN_NAT: "nat",
}

// Rule is one policy routing rule (`ip rule`).
type Rule struct {
	Priority, Table int
	Src, Dst        string
	Mark            uint32
}

func (r Rule) String() string {
	return fmt.Sprintf("prio=%d table=%d src=%s dst=%s mark=%d", r.Priority, r.Table, r.Src, r.Dst, r.Mark)
}

// Rules dumps the policy routing rules of family in the namespace at ns.
func Rules(ns string, family int) ([]Rule, error) {
	h, err := netns.Handle(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	rs, err := netns.RuleList(h, family)
	if err != nil {
		return nil, fmt.Errorf("%s: rules: %w", ns, err)
	}
	out := make([]Rule, 0, len(rs))
	for _, r := range rs {
		rl := Rule{Priority: r.Priority, Table: r.Table, Mark: r.Mark}
		if r.Src != nil {
			rl.Src = r.Src.String()
		}
		if r.Dst != nil {
			rl.Dst = r.Dst.String()
		}
		out = append(out, rl)
	}
	return out, nil
}
