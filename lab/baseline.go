package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// A lab's baseline is what Up made, read back from the kernel and the
// daemons once it is up: each of its namespaces (links, addresses, routes,
// rules, sysctls, qdiscs, firewall rulesets), the namespaces it pinned, the
// processes in them, each daemon's containers, networks, volumes and images,
// and the etcd cluster's keys. Reset puts the lab back to it and then reads
// the lab again: what still differs is an error.

const baselineFile = "baseline.json"

// baseline is the lab as Up left it (baseline.json in the state directory).
type baseline struct {
	Taken time.Time `json:"taken"`
	// Namespaces are the fabric's and every host's, by pin name.
	Namespaces map[string]*nsState `json:"namespaces"`
	// Legs are the host interfaces' links as seen from the fabric.
	Legs map[string]LinkStatus `json:"legs"`
	// Pins are the lab's /run/netns pins.
	Pins []string `json:"pins"`
	// Procs are the processes in the lab's namespaces, Roots those of
	// them that are the lab's daemons and etcd members.
	Procs []procInfo `json:"procs"`
	Roots []procInfo `json:"roots"`
	// Daemons are the docker hosts' daemons, by host.
	Daemons map[string]*daemonState `json:"daemons,omitempty"`
	// Etcd is the cluster's key space, when the lab has one.
	Etcd *etcdKeys `json:"etcd,omitempty"`
	// Hosts are each host's own /run and switch, by host.
	Hosts map[string]*hostState `json:"hosts"`
}

// nsState is one network namespace as the kernel has it.
type nsState struct {
	Links   []kernel.Link     `json:"links"`
	Addrs   []kernel.Addr     `json:"addrs"`
	Routes  []kernel.Route    `json:"routes"`
	Rules   []kernel.Rule     `json:"rules"`
	Sysctls map[string]string `json:"sysctls"`
	Qdiscs  []kernel.Qdisc    `json:"qdiscs"`
	// Generation is the nf_tables generation the rulesets were read at.
	Generation uint32 `json:"generation"`
	// Rulesets are the dumps of iptables-save, ip6tables-save and nft
	// list ruleset, by tool.
	Rulesets map[string]string `json:"rulesets"`
}

// rulesetDumps are the firewall dumps a namespace's state holds, by name.
var rulesetDumps = map[string]kernel.Dump{
	"iptables": kernel.IPTables, "ip6tables": kernel.IP6Tables, "nft": kernel.NFT,
}

// readNS reads the namespace at pin. Its rulesets are dumped only when the
// nf_tables generation moved since was (nil: always); otherwise was's are
// kept, which are the same rules. The readers run side by side: the
// netlink dumps, the sysctls (hundreds of files, read on a thread of their
// own in the namespace) and each firewall tool's dump (a process each).
func readNS(pin string, was *nsState) (*nsState, error) {
	s := &nsState{}
	var err error
	// The generation first: it says whether the tools must run.
	if s.Generation, err = kernel.RulesetGeneration(pin); err != nil {
		return nil, err
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	run := func(read func() error) {
		wg.Go(func() {
			if err := read(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	run(func() (err error) {
		// The baseline reads every writable sysctl; later reads only its
		// keys, which are all that is compared.
		if was == nil {
			s.Sysctls, err = kernel.Sysctls(pin)
		} else {
			s.Sysctls, err = kernel.SysctlValues(pin, slices.Collect(maps.Keys(was.Sysctls)))
		}
		return err
	})
	if was != nil && was.Generation == s.Generation {
		s.Rulesets = was.Rulesets
	} else {
		s.Rulesets = map[string]string{}
		for name, dump := range rulesetDumps {
			run(func() error {
				out, err := kernel.Ruleset(pin, dump)
				if errors.Is(err, exec.ErrNotFound) {
					return nil
				}
				mu.Lock()
				s.Rulesets[name] = out
				mu.Unlock()
				return err
			})
		}
	}
	if err := readNetlink(pin, s); err != nil {
		errs = append(errs, err)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// readNetlink reads the namespace's links, addresses, routes, rules and
// qdiscs into s.
func readNetlink(pin string, s *nsState) error {
	var err error
	if s.Links, err = kernel.Links(pin); err != nil {
		return err
	}
	if s.Addrs, err = kernel.Addrs(pin, netlink.FAMILY_ALL); err != nil {
		return err
	}
	if s.Routes, err = kernel.Routes(pin, netlink.FAMILY_ALL, kernel.AllTables); err != nil {
		return err
	}
	if s.Rules, err = kernel.Rules(pin, netlink.FAMILY_ALL); err != nil {
		return err
	}
	s.Qdiscs, err = kernel.Qdiscs(pin)
	return err
}

// facts are the namespace's state as lines, for comparison. Sysctls are
// compared only by the keys of base (nil: all): a link made later brings
// its own, and a link deleted takes its own away, which the links show.
func (s *nsState) facts(base *nsState) []string {
	var out []string
	for _, l := range s.Links {
		out = append(out, fmt.Sprintf("link %s kind=%s mac=%s mtu=%d master=%s up=%v promisc=%v", l.Name, l.Kind, l.MAC, l.MTU, l.Master, l.Up, l.Promisc))
	}
	for _, a := range s.Addrs {
		out = append(out, "address "+a.String())
	}
	for _, r := range s.Routes {
		out = append(out, "route "+routeFact(r))
	}
	for _, r := range s.Rules {
		out = append(out, "rule "+r.String())
	}
	for _, q := range s.Qdiscs {
		out = append(out, "qdisc "+q.String())
	}
	keys := s.Sysctls
	if base != nil {
		keys = base.Sysctls
	}
	for k := range keys {
		v, ok := s.Sysctls[k]
		if !ok {
			v = "(absent)"
		}
		out = append(out, "sysctl "+k+"="+v)
	}
	for name, dump := range s.Rulesets {
		if name == "nft" {
			for t, b := range nftBlocks(dump) {
				if !iptablesTable(t) {
					for _, l := range b.lines {
						out = append(out, "nft "+t+": "+l)
					}
				}
			}
			continue
		}
		for _, l := range kernel.RulesetLines(dump) {
			out = append(out, name+" "+l)
		}
	}
	sort.Strings(out)
	return out
}

func routeFact(r kernel.Route) string {
	return fmt.Sprintf("table=%d %s gw=%s src=%s proto=%s scope=%s metric=%d type=%s", r.Table, r.String(), r.Gw, r.Src, r.Protocol, r.Scope, r.Metric, r.Type)
}

// procInfo is a process in one of the lab's namespaces.
type procInfo struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
	PPID  int    `json:"ppid"`
	Comm  string `json:"comm"`
}

func (p procInfo) proc() proc { return proc{pid: p.PID, start: p.Start} }

func (p procInfo) String() string { return fmt.Sprintf("%s (pid %d)", p.Comm, p.PID) }

// takeBaseline reads the lab as it is now and keeps it, in memory and in
// the state directory (for a Reset from another process).
func (l *Lab) takeBaseline(ctx context.Context) error {
	if err := l.waitNodeKeys(ctx); err != nil {
		return fmt.Errorf("lab %s: baseline: %w", l.ID(), err)
	}
	b, err := l.read(ctx, nil, nil, nil)
	if err != nil {
		return fmt.Errorf("lab %s: baseline: %w", l.ID(), err)
	}
	b.Taken = time.Now().UTC()
	return l.saveBaseline(b)
}

// saveBaseline keeps b as the lab's baseline, in memory and on disk.
func (l *Lab) saveBaseline(b *baseline) error {
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("lab %s: baseline: %w", l.ID(), err)
	}
	if err := writeFileAtomic(filepath.Join(l.dir, baselineFile), data); err != nil {
		return fmt.Errorf("lab %s: baseline: %w", l.ID(), err)
	}
	l.mu.Lock()
	l.base = b
	l.mu.Unlock()
	return nil
}

// loadBaseline returns the lab's baseline as the state directory has it
// now (a reset in another process, nslab reset, may have renewed its
// daemons), and makes the lab's daemons those lab.json names.
func (l *Lab) loadBaseline() (*baseline, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, err := readState(l.dir); err == nil {
		for _, h := range l.hosts {
			if pid := s.HostdPIDs[h.Name]; pid != h.pid {
				h.pid, h.exited = pid, nil
			}
		}
		l.state.HostdPIDs = s.HostdPIDs
	}
	data, err := os.ReadFile(filepath.Join(l.dir, baselineFile))
	if errors.Is(err, os.ErrNotExist) && l.state.OnDemand {
		return nil, fmt.Errorf("lab %s: %w: its docker hosts start their daemons on demand (Options.OnDemand, nslab up --on-demand), and a reset has no state of theirs to put back", l.ID(), ErrNoBaseline)
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("lab %s: %w: it was brought up without Options.Resettable (nslab up takes it)", l.ID(), ErrNoBaseline)
	}
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", l.ID(), err)
	}
	var b baseline
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("lab %s: %s: %w", l.ID(), baselineFile, err)
	}
	l.base = &b
	return &b, nil
}

// read reads the whole lab: namespaces, legs, pins and processes from the
// kernel, daemons through their API, etcd's keys. was (nil at Up) spares
// the ruleset dumps of namespaces whose rules did not change; namespaces
// and procs, when given, are taken as they are instead of read.
func (l *Lab) read(ctx context.Context, was *baseline, namespaces map[string]*nsState, procs []procInfo) (*baseline, error) {
	b := &baseline{Namespaces: maps.Clone(namespaces), Daemons: map[string]*daemonState{}}
	if b.Namespaces == nil {
		b.Namespaces = map[string]*nsState{}
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for _, pin := range l.namespacePins() {
		if b.Namespaces[pin] != nil {
			continue
		}
		wg.Go(func() {
			var prev *nsState
			if was != nil {
				prev = was.Namespaces[pin]
			}
			s, err := readNS(netns.Path(pin), prev)
			if err != nil {
				fail(err)
				return
			}
			mu.Lock()
			b.Namespaces[pin] = s
			mu.Unlock()
		})
	}
	for _, h := range l.dockerHosts() {
		wg.Go(func() {
			d, err := h.readDaemon(ctx)
			if err != nil {
				fail(err)
				return
			}
			mu.Lock()
			b.Daemons[h.Name] = d
			mu.Unlock()
		})
	}
	wg.Go(func() {
		var err error
		if b.Legs, err = l.readLegs(ctx); err != nil {
			fail(err)
		}
	})
	wg.Go(func() {
		var err error
		if b.Hosts, err = l.readHosts(ctx); err != nil {
			fail(err)
		}
	})
	if m := l.etcdHosts(); len(m) > 0 {
		wg.Go(func() {
			var err error
			if b.Etcd, err = readEtcdKeys(ctx, m[0]); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return b, l.readPinsAndProcs(b, procs)
}

// readPinsAndProcs reads the lab's /run/netns pins and, unless given,
// the processes in its namespaces, into b.
func (l *Lab) readPinsAndProcs(b *baseline, procs []procInfo) error {
	var err error
	if b.Pins, err = kernel.Pins(l.ID() + "-"); err != nil {
		return err
	}
	b.Procs = procs
	if b.Procs == nil {
		b.Procs = l.processes()
	}
	roots := l.rootProcs()
	for _, p := range b.Procs {
		if roots[p.PID] {
			b.Roots = append(b.Roots, p)
		}
	}
	return nil
}

// namespacePins are the names of the pins of the fabric and the hosts.
func (l *Lab) namespacePins() []string {
	out := []string{l.ID() + "-" + fabricPinName}
	for _, h := range l.hosts {
		out = append(out, l.ID()+"-"+h.Name)
	}
	return out
}

// readLegs reads every host interface's link from the fabric, counters
// left out.
func (l *Lab) readLegs(ctx context.Context) (map[string]LinkStatus, error) {
	out := map[string]LinkStatus{}
	for _, h := range l.hosts {
		for _, i := range h.Spec.Interfaces {
			s, err := h.Link(ctx, i.Name)
			if err != nil {
				return nil, err
			}
			s.Out.Dropped, s.In.Dropped = 0, 0
			s.HostEnd.Carrier, s.HostEnd.OperState = false, ""
			s.FabricEnd.Carrier, s.FabricEnd.OperState = false, ""
			out[h.Name+"/"+i.Name] = s
		}
	}
	return out, nil
}

// facts are the whole lab as lines, for comparison with base (nil: as
// they are).
func (b *baseline) facts(base *baseline) []string {
	var out []string
	for _, pin := range slices.Sorted(maps.Keys(b.Namespaces)) {
		var bs *nsState
		if base != nil {
			bs = base.Namespaces[pin]
		}
		for _, f := range b.Namespaces[pin].facts(bs) {
			out = append(out, pin+": "+f)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b.Legs)) {
		s := b.Legs[k]
		out = append(out, fmt.Sprintf("link %s: fabric end up=%v, out %+v, in %+v", k, s.FabricEnd.Up, s.Out, s.In))
	}
	for _, p := range b.Pins {
		out = append(out, "pin "+p)
	}
	for _, h := range slices.Sorted(maps.Keys(b.Daemons)) {
		for _, f := range b.Daemons[h].facts() {
			out = append(out, h+" daemon: "+f)
		}
	}
	if b.Etcd != nil {
		out = append(out, b.Etcd.facts()...)
	}
	for _, h := range slices.Sorted(maps.Keys(b.Hosts)) {
		for _, f := range b.Hosts[h].facts() {
			out = append(out, h+": "+f)
		}
	}
	return out
}

// diffFacts lists the lines only one side has: "- " what base has and now
// lacks, "+ " what now has and base lacks.
func diffFacts(base, now []string) []string {
	in := func(s []string) map[string]int {
		m := map[string]int{}
		for _, l := range s {
			m[l]++
		}
		return m
	}
	b, n := in(base), in(now)
	var d []string
	for l, c := range b {
		if n[l] < c {
			d = append(d, "- "+l)
		}
	}
	for l, c := range n {
		if b[l] < c {
			d = append(d, "+ "+l)
		}
	}
	sort.Slice(d, func(i, j int) bool { return d[i][2:] < d[j][2:] })
	return d
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
