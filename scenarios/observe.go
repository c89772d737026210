package scenarios

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns/kernel"
	"github.com/nslab/nslab/netns/probe"
	"github.com/nslab/nslab/parity"
)

// observeDir is where the suite records observations ("" records none).
var observeDir string

// RecordObservations makes every passing spec record what its lab looks
// like when it ends (and whatever moments it records with Observe) under
// dir, for the parity report. The suite calls it once.
func RecordObservations(dir string) { observeDir = dir }

// Observe records the observables of l now, as the moment of exercise
// (an id such as "E06"). Specs record their end state by themselves; call
// it for a moment in between that both runtimes must agree on.
func Observe(l *labtest.Lab, exercise, moment string) {
	GinkgoHelper()
	ObserveWith(l, exercise, moment)
}

// ObserveWith is Observe with facts of the spec's own beside the lab's
// (what a command printed in a container, say).
func ObserveWith(l *labtest.Lab, exercise, moment string, facts ...string) {
	GinkgoHelper()
	if observeDir == "" || current == nil {
		return
	}
	o := parity.Observation{
		Exercise: exercise,
		Spec:     specName(l),
		Moment:   moment,
		Runtime:  current.Name(),
		Facts:    append(collect(l), facts...),
	}
	Expect(parity.Write(observeDir, o)).To(Succeed())
}

// observeEnd records the end state of a spec that passed, under the first
// exercise label it carries.
func observeEnd(l *labtest.Lab) {
	GinkgoHelper()
	if _, down := downEarly.Load(l); down {
		return // recorded by takeDown
	}
	r := CurrentSpecReport()
	// A native-only spec has no counterpart on real Docker to compare
	// with; one that kills a daemon leaves a host without one to ask.
	if observeDir == "" || r.Failed() || slices.Contains(r.Labels(), LabelNativeOnly) || slices.Contains(r.Labels(), LabelDaemonKilled) {
		return
	}
	for _, lb := range r.Labels() {
		if exerciseRE.MatchString(lb) {
			Observe(l, lb, "end")
			return
		}
	}
}

var exerciseRE = regexp.MustCompile(`^E\d\d$`)

// LabelDaemonKilled marks a spec that kills a host's daemon: its end state
// is not observed.
const LabelDaemonKilled = "daemon-killed"

// specName is the spec's text and, for specs that run once per way with
// the same text, the ways it drove the daemons.
func specName(l *labtest.Lab) string {
	name := CurrentSpecReport().FullText()
	if ways := l.Ways(); len(ways) > 0 {
		name += " via " + strings.Join(ways, ", ")
	}
	return name
}

// collect gathers the facts both runtimes expose, normalised so that
// what is random by design (ids, host-side veth names, bridge MACs)
// compares equal: per docker host its networks, links, routes and
// iptables rules; per container its links, routes, /etc/hosts,
// resolv.conf, hostname, capabilities and whose namespace it uses; and
// which container reaches which address of another.
func collect(l *labtest.Lab) []string {
	GinkgoHelper()
	var facts []string
	var ends []endpoint
	for _, h := range l.Hosts() {
		if h.DockerHost() == "" {
			continue
		}
		hf, he := observeHost(h.Host)
		facts = append(facts, hf...)
		ends = append(ends, he...)
	}
	return append(facts, reachability(ends)...)
}

// endpoint is a container's namespace and its addresses, for the pings.
type endpoint struct {
	name  string // host/container
	ns    string
	addrs []netip.Addr
}

// names maps what a daemon calls by id (networks' bridges, containers'
// hostnames and /etc/hosts lines) to names.
type names struct {
	bridge    map[string]string // "br-<12 hex>" → "br-<network>"
	container map[string]string // 12 or 64 hex → "<id:name>"
	// shown is the name a container goes by in the facts: its own, or
	// for one Docker named (run without --name) "unnamed-N".
	shown map[string]string
}

// generatedName is the form of the name Docker makes up for a container
// run without --name (adjective_surname, a digit after a collision). It is
// random on every run, on both runtimes, so the facts call such a
// container by its place among them in the order its host created them.
var generatedName = regexp.MustCompile(`^[a-z]+_[a-z]+[0-9]?$`)

// shownNames maps each container's name to the one the facts use.
func shownNames(ctrs []container.Summary) map[string]string {
	byAge := slices.Clone(ctrs)
	sort.SliceStable(byAge, func(i, j int) bool { return byAge[i].Created < byAge[j].Created })
	out := map[string]string{}
	n := 0
	for _, ct := range byAge {
		name := strings.TrimPrefix(ct.Names[0], "/")
		out[name] = name
		if generatedName.MatchString(name) {
			n++
			out[name] = fmt.Sprintf("unnamed-%d", n)
		}
	}
	return out
}

var (
	bridgeRE = regexp.MustCompile(`\bbr-[0-9a-f]{12}\b`)
	vethRE   = regexp.MustCompile(`\bveth[0-9a-f]{7}\b`)
	hexIDRE  = regexp.MustCompile(`\b[0-9a-f]{64}\b|\b[0-9a-f]{12}\b`)
	countRE  = regexp.MustCompile(` ?\[\d+:\d+\]$`)
	// gatewayRE is an overlay container's endpoint on docker_gwbridge,
	// named after its sandbox's random id (libnetwork's gateway_<id>).
	gatewayRE = regexp.MustCompile(`\bgateway_[0-9a-f]{12}\b`)
)

// shownName is the name the facts use for the container named name (an
// endpoint's): see shownNames. An overlay network also lists the
// endpoints of other hosts' containers, which this host does not list.
func (n names) shownName(name string) string {
	if v, ok := n.shown[name]; ok {
		return v
	}
	if generatedName.MatchString(name) {
		return "unnamed-remote"
	}
	return n.normalise(name)
}

func (n names) normalise(s string) string {
	s = bridgeRE.ReplaceAllStringFunc(s, func(b string) string {
		if v, ok := n.bridge[b]; ok {
			return v
		}
		return "br-<unknown>"
	})
	s = vethRE.ReplaceAllString(s, "veth*")
	s = gatewayRE.ReplaceAllString(s, "gateway_<sandbox>")
	return hexIDRE.ReplaceAllStringFunc(s, func(id string) string {
		if v, ok := n.container[id]; ok {
			return v
		}
		return id
	})
}

// hostObservation gathers the facts of one docker host.
type hostObservation struct {
	h     *lab.Host
	c     *client.Client
	n     names
	facts []string
}

func (o *hostObservation) add(format string, args ...any) {
	o.facts = append(o.facts, o.h.Name+" "+fmt.Sprintf(format, args...))
}

// observeHost reads one docker host: through its Engine API what the
// daemon reports, through the kernel what it did.
func observeHost(h *lab.Host) ([]string, []endpoint) {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(labtest.NodeContext(), 30*time.Second)
	defer cancel()
	c, err := h.DockerClient()
	Expect(err).NotTo(HaveOccurred())
	defer c.Close()
	o := &hostObservation{h: h, c: c, n: names{bridge: map[string]string{}, container: map[string]string{}}}
	nets, err := c.NetworkList(ctx, client.NetworkListOptions{})
	Expect(err).NotTo(HaveOccurred(), "host %s: networks", h.Name)
	for _, nw := range nets.Items {
		if len(nw.ID) >= 12 {
			o.n.bridge["br-"+nw.ID[:12]] = "br-" + nw.Name
		}
	}
	ctrs, err := c.ContainerList(ctx, client.ContainerListOptions{})
	Expect(err).NotTo(HaveOccurred(), "host %s: containers", h.Name)
	o.n.shown = shownNames(ctrs.Items)
	for _, ct := range ctrs.Items {
		name := "<id:" + o.n.shown[strings.TrimPrefix(ct.Names[0], "/")] + ">"
		o.n.container[ct.ID], o.n.container[ct.ID[:12]] = name, name
	}
	o.networks(ctx, nets.Items)
	o.kernel()
	o.proxies()
	return o.facts, o.containers(ctx, ctrs.Items)
}

// proxies records the docker-proxy processes in the host's namespace, as
// `ps ax | grep docker-proxy` shows them there: dockerd runs one per
// published port and address family.
func (o *hostObservation) proxies() {
	GinkgoHelper()
	want := fmt.Sprintf("net:[%d]", labtest.Inode(o.h.NetNS()))
	pids, err := kernel.Processes()
	Expect(err).NotTo(HaveOccurred())
	var found []string
	for _, pid := range pids {
		dir := "/proc/" + strconv.Itoa(pid)
		if ns, err := os.Readlink(dir + "/ns/net"); err != nil || ns != want {
			continue
		}
		b, err := os.ReadFile(dir + "/cmdline")
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if err != nil || filepath.Base(args[0]) != "docker-proxy" {
			continue
		}
		found = append(found, strings.Join(args[1:], " "))
	}
	sort.Strings(found)
	for _, p := range found {
		o.add("process docker-proxy %s", p)
	}
}

// networks records each network as the daemon reports it, with its
// endpoints (which only inspect lists).
func (o *hostObservation) networks(ctx context.Context, nets []network.Summary) {
	GinkgoHelper()
	for _, nw := range nets {
		in, err := o.c.NetworkInspect(ctx, nw.ID, client.NetworkInspectOptions{})
		Expect(err).NotTo(HaveOccurred(), "host %s: network %s", o.h.Name, nw.Name)
		var ipam []string
		for _, cfg := range nw.IPAM.Config {
			ipam = append(ipam, validString(cfg.Subnet)+" gw="+validString(cfg.Gateway))
		}
		o.add("network %s: driver=%s scope=%s internal=%v ipam=[%s] options=%s", nw.Name, nw.Driver, nw.Scope, nw.Internal, strings.Join(ipam, " "), sortedMap(nw.Options))
		for _, ep := range in.Network.Containers {
			o.add("network %s endpoint %s: %s %s", nw.Name, o.n.shownName(ep.Name), validString(ep.IPv4Address), ep.MacAddress)
		}
	}
}

// validString is v's text, or "" for a zero address or prefix (which
// would print as "invalid IP").
func validString[T interface {
	IsValid() bool
	String() string
}](v T) string {
	if !v.IsValid() {
		return ""
	}
	return v.String()
}

// kernel records the host namespace's links, routes and iptables rules.
func (o *hostObservation) kernel() {
	GinkgoHelper()
	host := o.h.NetNS()
	for _, lk := range labtest.Links(host) {
		o.add("link %s", o.n.normalise(linkFact(lk)))
	}
	for _, r := range labtest.Routes(host, kernel.MainTable) {
		o.add("route: %s", o.n.normalise(r))
	}
	save, err := kernel.Ruleset(host, kernel.IPTables)
	Expect(err).NotTo(HaveOccurred(), "host %s", o.h.Name)
	for _, f := range iptablesFacts(save) {
		o.add("%s", o.n.normalise(f))
	}
}

// ctrNS is a running container and the identity of its network namespace.
type ctrNS struct {
	name string
	pid  int
	ino  uint64
}

// containers records, for every running container, whose namespace it
// uses (decided by inode), its files, capabilities, links and routes, and
// returns those with a namespace of their own for the pings.
func (o *hostObservation) containers(ctx context.Context, ctrs []container.Summary) []endpoint {
	GinkgoHelper()
	hostIno := labtest.Inode(o.h.NetNS())
	var cns []ctrNS
	for _, ct := range ctrs {
		in, err := o.c.ContainerInspect(ctx, ct.ID, client.ContainerInspectOptions{})
		Expect(err).NotTo(HaveOccurred())
		if in.Container.State == nil || in.Container.State.Pid <= 0 {
			continue
		}
		pid := in.Container.State.Pid
		cns = append(cns, ctrNS{name: o.n.shown[strings.TrimPrefix(ct.Names[0], "/")], pid: pid, ino: labtest.Inode(fmt.Sprintf("/proc/%d/ns/net", pid))})
	}
	sort.Slice(cns, func(i, j int) bool { return cns[i].name < cns[j].name })
	var ends []endpoint
	for i, ct := range cns {
		mode := "own"
		if ct.ino == hostIno {
			mode = "host"
		}
		for j, other := range cns {
			if j < i && other.ino == ct.ino {
				mode = "container:" + other.name
				break
			}
		}
		if e, ok := o.container(ct, mode); ok && mode == "own" {
			ends = append(ends, e)
		}
	}
	return ends
}

// container records one container's facts; it returns its endpoint unless
// it shares its host's namespace, whose links are recorded already.
func (o *hostObservation) container(ct ctrNS, mode string) (endpoint, bool) {
	GinkgoHelper()
	who := o.h.Name + "/" + ct.name
	o.facts = append(o.facts, who+" netns: "+mode)
	root := fmt.Sprintf("/proc/%d/root", ct.pid)
	for _, f := range []struct{ what, path string }{
		{"hosts", "/etc/hosts"}, {"resolv", "/etc/resolv.conf"}, {"hostname", "/etc/hostname"},
	} {
		for _, line := range fileLines(root + f.path) {
			o.facts = append(o.facts, who+" "+f.what+": "+o.n.normalise(line))
		}
	}
	o.facts = append(o.facts, who+" caps: "+capEff(ct.pid))
	if mode == "host" {
		return endpoint{}, false
	}
	ns := fmt.Sprintf("/proc/%d/ns/net", ct.pid)
	e := endpoint{name: who, ns: ns}
	for _, lk := range labtest.Links(ns) {
		o.facts = append(o.facts, who+" link "+o.n.normalise(linkFact(lk)))
		for _, a := range lk.Addrs {
			if p, err := netip.ParsePrefix(a); err == nil && !p.Addr().IsLoopback() {
				e.addrs = append(e.addrs, p.Addr())
			}
		}
	}
	for _, r := range labtest.Routes(ns, kernel.MainTable) {
		o.facts = append(o.facts, who+" route: "+o.n.normalise(r))
	}
	return e, true
}

// linkFact describes a link by what Docker decides about it. A MAC that
// Docker derives from the link's IPv4 address (02:42 and its four bytes)
// is compared whole; a bridge's 02:42 MAC is Docker's but the rest of it
// random, and any other MAC is the kernel's (veths made by hand, host
// ends, the lab's own links). The kernel's can start with 02:42 too,
// once in 16,384: so only a bridge's shows as Docker's (a host's eth1
// did once, on one runtime of a run, 2026-12-07).
func linkFact(l labtest.Link) string {
	mac := l.MAC
	switch {
	case mac == "" || mac == "00:00:00:00:00:00" || derivedMAC(l):
	case l.Kind == "bridge" && strings.HasPrefix(mac, "02:42:"):
		mac = "02:42:*"
	default:
		mac = "*"
	}
	s := fmt.Sprintf("%s: %s up=%v mac=%s", l.Name, l.Kind, l.Up, mac)
	if l.Master != "" {
		s += " master=" + l.Master
	}
	if len(l.Addrs) > 0 {
		s += " addrs=" + strings.Join(l.Addrs, ",")
	}
	return s
}

// derivedMAC says whether l's MAC is 02:42 followed by one of its IPv4
// addresses.
func derivedMAC(l labtest.Link) bool {
	for _, a := range l.Addrs {
		p, err := netip.ParsePrefix(a)
		if err != nil || !p.Addr().Is4() {
			continue
		}
		b := p.Addr().As4()
		if l.MAC == fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3]) {
			return true
		}
	}
	return false
}

// iptablesFacts turns iptables-save output into one fact per chain
// policy and per rule, with its position in its chain: order decides
// what a packet meets first. Comments and counters go.
func iptablesFacts(save string) []string {
	var out []string
	table := ""
	pos := map[string]int{}
	for _, line := range strings.Split(save, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || line == "COMMIT":
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case strings.HasPrefix(line, ":"):
			f := strings.Fields(countRE.ReplaceAllString(line[1:], ""))
			if len(f) >= 2 {
				out = append(out, fmt.Sprintf("iptables %s chain %s policy %s", table, f[0], f[1]))
			}
		case strings.HasPrefix(line, "-A "):
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			key := table + " " + f[1]
			pos[key]++
			out = append(out, fmt.Sprintf("iptables %s %s #%d: %s", table, f[1], pos[key], strings.Join(f[2:], " ")))
		default:
			out = append(out, "iptables "+table+" "+line)
		}
	}
	return out
}

// fileLines is a file's non-empty lines; a file that cannot be read is
// one fact saying so.
func fileLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return []string{"(unreadable)"}
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// capEff is the effective capability set of a process, in hex: Docker
// drops NET_ADMIN and others from a container's main process.
func capEff(pid int) string {
	for _, l := range fileLines("/proc/" + strconv.Itoa(pid) + "/status") {
		if v, ok := strings.CutPrefix(l, "CapEff: "); ok {
			return v
		}
	}
	return "(unknown)"
}

func sortedMap(m map[string]string) string {
	var kv []string
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return "{" + strings.Join(kv, ",") + "}"
}

// reachTimeout bounds one observed ping: a silent path waits all of it,
// and all pairs run at once.
const reachTimeout = 2 * time.Second

// reachability pings every address of every other container from each
// container's own namespace, all at once.
func reachability(ends []endpoint) []string {
	type job struct {
		from, to string
		ns       string
		addr     netip.Addr
	}
	var jobs []job
	for _, a := range ends {
		for _, b := range ends {
			if a.name == b.name {
				continue
			}
			for _, addr := range b.addrs {
				jobs = append(jobs, job{a.name, b.name, a.ns, addr})
			}
		}
	}
	out := make([]string, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			_, err := probe.Ping(labtest.NodeContext(), j.ns, j.addr, probe.Opts{Timeout: reachTimeout})
			verdict := "yes"
			if err != nil {
				verdict = "no"
			}
			out[i] = fmt.Sprintf("reach %s -> %s %s: %s", j.from, j.to, j.addr, verdict)
		})
	}
	wg.Wait()
	return out
}
