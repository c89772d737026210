// Package rootns takes a snapshot of everything in the machine's root
// network namespace that a lab could change by mistake: links, addresses,
// routes, neighbour tables, the iptables and nftables rulesets, the pins in
// /run/netns and the mount table. Two snapshots taken around a whole test
// suite must be equal; Diff says what changed.
//
// Reading is all it does: netlink dumps in the caller's namespace (the root
// one, for a test process), iptables-save and nft list ruleset, /proc files.
package rootns

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// Snapshot is a normalised, sorted, line-per-fact view of the root namespace.
type Snapshot map[string][]string

// Take reads the root namespace. The calling process must be in it.
func Take() (Snapshot, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("root netns: netlink handle: %w", err)
	}
	defer h.Close()
	s := Snapshot{}
	links, err := netns.LinkList(h)
	if err != nil {
		return nil, fmt.Errorf("root netns: links: %w", err)
	}
	names := map[int]string{}
	for _, l := range links {
		a := l.Attrs()
		names[a.Index] = a.Name
	}
	for _, l := range links {
		a := l.Attrs()
		// Counters, operstate and carrier change on their own; the set of
		// links, their kind, MAC, MTU, master and admin state do not.
		s["links"] = append(s["links"], fmt.Sprintf("%s type=%s mac=%s mtu=%d master=%s up=%v",
			a.Name, l.Type(), a.HardwareAddr, a.MTU, names[a.MasterIndex], a.Flags&unix.IFF_UP != 0))
	}
	addrs, err := netns.AddrList(h, nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("root netns: addresses: %w", err)
	}
	for _, a := range addrs {
		s["addresses"] = append(s["addresses"], fmt.Sprintf("%s %s", names[a.LinkIndex], a.IPNet))
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("root netns: routes: %w", err)
	}
	for _, r := range routes {
		s["routes"] = append(s["routes"], fmt.Sprintf("table=%d dst=%v gw=%v dev=%s src=%v proto=%d scope=%d",
			r.Table, r.Dst, r.Gw, names[r.LinkIndex], r.Src, r.Protocol, r.Scope))
	}
	rules, err := h.RuleList(netlink.FAMILY_ALL)
	if err == nil {
		for _, r := range rules {
			s["rules"] = append(s["rules"], fmt.Sprintf("prio=%d table=%d src=%v dst=%v mark=%d", r.Priority, r.Table, r.Src, r.Dst, r.Mark))
		}
	}
	s["iptables"] = command(`iptables-save`)
	s["ip6tables"] = command(`ip6tables-save`)
	s["nft"] = command(`nft`, `list`, `ruleset`)
	s["sysctl"] = sysctls()
	s["netns"] = pins()
	s["mounts"] = mounts()
	for k := range s {
		sort.Strings(s[k])
	}
	return s, nil
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// command runs a read-only dump tool; a missing tool is recorded as such,
// so both snapshots say the same thing about it.
func command(name string, args ...string) []string {
	if _, err := exec.LookPath(name); err != nil {
		return []string{name + ": not installed"}
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return []string{fmt.Sprintf("%s: %v: %s", name, err, bytes.TrimSpace(out))}
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		// iptables-save stamps its output with a time and counts packets.
		if strings.HasPrefix(l, "#") {
			continue
		}
		lines = append(lines, counters.ReplaceAllString(l, "[0:0]"))
	}
	return lines
}

// sysctls that a lab would have to change in the root namespace to route
// or bridge anything there; dockerd in the root namespace flips some of them.
func sysctls() []string {
	var out []string
	for _, p := range []string{
		"/proc/sys/net/ipv4/ip_forward",
		"/proc/sys/net/ipv4/conf/all/forwarding",
		"/proc/sys/net/ipv6/conf/all/forwarding",
		"/proc/sys/net/bridge/bridge-nf-call-iptables",
		"/proc/sys/net/ipv4/conf/all/rp_filter",
		"/proc/sys/net/ipv4/conf/all/proxy_arp",
	} {
		b, err := os.ReadFile(p)
		v := strings.TrimSpace(string(b))
		if err != nil {
			v = "absent"
		}
		out = append(out, p+"="+v)
	}
	return out
}

func pins() []string {
	ents, err := os.ReadDir(netns.RunDir)
	if err != nil {
		return []string{"/run/netns: " + err.Error()}
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// mounts lists mount points with their source and type, without the mount
// ids and peer-group numbers that differ between equal tables.
func mounts() []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return []string{"mountinfo: " + err.Error()}
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		sep := 0
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		typ, src := "", ""
		if sep > 0 && len(f) > sep+2 {
			typ, src = f[sep+1], f[sep+2]
		}
		out = append(out, fmt.Sprintf("%s root=%s type=%s src=%s", f[4], f[3], typ, src))
	}
	return out
}

// Diff lists every line present in only one of the snapshots, per section.
// An empty result means the namespace is as it was.
func Diff(before, after Snapshot) []string {
	var d []string
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	var sorted []string
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		b, a := count(before[k]), count(after[k])
		for l, n := range b {
			for i := a[l]; i < n; i++ {
				d = append(d, fmt.Sprintf("%s: - %s", k, l))
			}
		}
		for l, n := range a {
			for i := b[l]; i < n; i++ {
				d = append(d, fmt.Sprintf("%s: + %s", k, l))
			}
		}
	}
	sort.Strings(d)
	return d
}

func count(lines []string) map[string]int {
	m := map[string]int{}
	for _, l := range lines {
		m[l]++
	}
	return m
}
