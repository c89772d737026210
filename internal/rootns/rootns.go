// Package rootns takes a snapshot of everything in the machine's root
// network namespace that a lab could change by mistake: links, addresses,
// routes, policy rules, the iptables and nftables rulesets, the sysctls that
// route or bridge, the pins in /run/netns, the mount table and the labs'
// data directories. Two snapshots taken around a whole test suite must be
// equal; Diff says what changed. Beside them a Baseline keeps nslab's
// entries in /tmp and the trees of the image store's layers (images.go),
// which no container may write.
// Neighbour tables are left out: the kernel fills and ages them by itself.
//
// Reading is all it does, through package kernel, in the caller's
// namespace (the root one, for a test process).
package rootns

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netns/kernel"
)

// Snapshot is a normalised, sorted, line-per-fact view of the root namespace.
type Snapshot map[string][]string

// Take reads the root namespace. The calling process must be in it.
func Take() (Snapshot, error) {
	s := Snapshot{}
	if err := s.network(kernel.Self); err != nil {
		return nil, fmt.Errorf("root netns: %w", err)
	}
	s["iptables"] = ruleset(kernel.IPTables)
	s["ip6tables"] = ruleset(kernel.IP6Tables)
	s["nft"] = ruleset(kernel.NFT)
	s["sysctl"] = sysctls()
	s["netns"] = pins()
	s["mounts"] = mounts()
	s["labdata"] = labData()
	for k := range s {
		sort.Strings(s[k])
	}
	return s, nil
}

// network reads the links, addresses, routes and rules of the namespace
// at ns.
func (s Snapshot) network(ns string) error {
	links, err := kernel.Links(ns)
	if err != nil {
		return err
	}
	for _, l := range links {
		// Counters, operstate and carrier change on their own; the set of
		// links, their kind, MAC, MTU, master and admin state do not.
		s["links"] = append(s["links"], fmt.Sprintf("%s type=%s mac=%s mtu=%d master=%s up=%v",
			l.Name, l.Kind, l.MAC, l.MTU, l.Master, l.Up))
	}
	addrs, err := kernel.Addrs(ns, netlink.FAMILY_ALL)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		s["addresses"] = append(s["addresses"], a.String())
	}
	routes, err := kernel.Routes(ns, netlink.FAMILY_ALL, kernel.AllTables)
	if err != nil {
		return err
	}
	for _, r := range routes {
		s["routes"] = append(s["routes"], fmt.Sprintf("table=%d dst=%s gw=%s dev=%s src=%s proto=%s scope=%s",
			r.Table, r.Dst, r.Gw, r.Dev, r.Src, r.Protocol, r.Scope))
	}
	rules, err := kernel.Rules(ns, netlink.FAMILY_ALL)
	if err != nil {
		return err
	}
	for _, r := range rules {
		s["rules"] = append(s["rules"], r.String())
	}
	return nil
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// ruleset dumps a firewall ruleset; a missing tool is recorded as such, so
// both snapshots say the same thing about it.
func ruleset(dump kernel.Dump) []string {
	out, err := kernel.Ruleset(kernel.Self, dump)
	if errors.Is(err, exec.ErrNotFound) {
		return []string{dump[0] + ": not installed"}
	}
	if err != nil {
		return []string{err.Error()}
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		// iptables-save stamps its output with a time and counts packets.
		if l == "" || strings.HasPrefix(l, "#") {
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
	for _, key := range []string{
		"net.ipv4.ip_forward",
		"net.ipv4.conf.all.forwarding",
		"net.ipv6.conf.all.forwarding",
		"net.bridge.bridge-nf-call-iptables",
		"net.ipv4.conf.all.rp_filter",
		"net.ipv4.conf.all.proxy_arp",
	} {
		v, err := kernel.Sysctl(kernel.Self, key)
		if err != nil {
			v = "absent"
		}
		out = append(out, key+"="+v)
	}
	return out
}

func pins() []string {
	names, err := kernel.Pins("")
	if err != nil {
		return []string{err.Error()}
	}
	return names
}

// LabDataRoot is where labs keep their hosts' data roots (lab's
// DefaultDataRoot; the lab package's tests check that both agree): a lab
// that went down leaves nothing there.
const LabDataRoot = "/var/lib/nslab/labs"

func labData() []string {
	ents, err := os.ReadDir(LabDataRoot)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return []string{LabDataRoot + ": " + err.Error()}
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
	ms, err := kernel.Mounts()
	if err != nil {
		return []string{err.Error()}
	}
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s root=%s type=%s src=%s", m.Point, m.Root, m.FSType, m.Source))
	}
	return out
}

// Diff lists every line present in only one of the snapshots, per section.
// An empty result means the namespace is as it was.
func Diff(before, after Snapshot) []string {
	var d []string
	sections := maps.Clone(before)
	maps.Copy(sections, after)
	for _, k := range slices.Sorted(maps.Keys(sections)) {
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
