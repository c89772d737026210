package dns

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	mdns "github.com/miekg/dns"
)

// Table is what one container's resolver knows: the names of the
// containers on the networks it shares with them. hostd implements it per
// container; MemTable (one per network, filled with EndpointRecords) and
// Chain (a container's networks in join order) are ready ones.
//
// Both methods are called for every query, concurrently, and must be fast
// and safe for concurrent use. The resolver passes names in canonical form:
// lower case, without the trailing dot ("web", "web.br1", "749bbbea2172").
// The slices returned are only read, never modified or kept, so an
// implementation may return its own storage.
type Table interface {
	// Lookup returns every address of name (IPv4 and IPv6 together), or
	// nothing when the name is unknown and must be forwarded.
	Lookup(name string) []netip.Addr
	// Reverse returns the names of addr for PTR answers, the one to answer
	// first (Docker answers one: "<container>.<network>").
	Reverse(addr netip.Addr) []string
}

// Record is one name the resolver answers with one address.
//
// On a user-defined network Docker 20.10 answers, for each container on the
// network: its name, its network aliases and its 12-hex short id (the
// daemon adds the short id to the aliases), each also with ".<network>"
// appended (sandbox.ResolveName tries "a.b" as name a in network b). Only
// the container's own name answers PTR queries, as "<name>.<network>"
// (network.ResolveIP): that record has PTR set.
type Record struct {
	Name string
	Addr netip.Addr
	// PTR makes Name the answer to reverse queries for Addr.
	PTR bool
}

// MemTable is a Table held in memory and changed by owner: an owner (for
// example an endpoint id) sets all of its records at once and deletes them
// at once. Several owners may share a name (containers sharing an alias);
// the name then answers with all their addresses.
//
// Readers share a read-only view built from the owners. A change drops the
// view and the first query after it builds the next one: a burst of
// container starts (hundreds of owners set one after another, no query in
// between) then costs one build, not one per start, and a query waits only
// when it is the first after a change.
type MemTable struct {
	mu     sync.Mutex // serialises writers and view builds
	seq    uint64
	owners map[string]owned
	view   atomic.Pointer[tableView] // nil after a change
}

type owned struct {
	seq  uint64 // insertion order: the first owner's PTR name wins, as Docker's first set element does
	recs []Record
}

type tableView struct {
	names map[string][]netip.Addr
	ptr   map[netip.Addr][]string
}

// NewTable returns an empty MemTable.
func NewTable() *MemTable {
	return &MemTable{owners: map[string]owned{}}
}

// Set replaces the records of owner. Names are checked first: nothing
// changes when one is not a valid domain name or an address is invalid.
func (t *MemTable) Set(owner string, recs ...Record) error {
	clean := make([]Record, 0, len(recs))
	for _, r := range recs {
		name := Canonical(r.Name)
		if name == "" {
			return fmt.Errorf("dns table: owner %s: empty name", owner)
		}
		if _, ok := mdns.IsDomainName(name); !ok {
			return fmt.Errorf("dns table: owner %s: invalid name %q", owner, r.Name)
		}
		if !r.Addr.IsValid() {
			return fmt.Errorf("dns table: owner %s: name %s: invalid address", owner, r.Name)
		}
		clean = append(clean, Record{Name: name, Addr: r.Addr.Unmap().WithZone(""), PTR: r.PTR})
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	seq := t.seq
	if old, ok := t.owners[owner]; ok {
		seq = old.seq // a refresh keeps its place in the PTR order
	} else {
		t.seq++
	}
	t.owners[owner] = owned{seq: seq, recs: clean}
	t.view.Store(nil)
	return nil
}

// Delete removes every record of owner. Deleting an unknown owner is not an
// error, so that teardown can be repeated.
func (t *MemTable) Delete(owner string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.owners[owner]; !ok {
		return
	}
	delete(t.owners, owner)
	t.view.Store(nil)
}

// Lookup implements Table.
func (t *MemTable) Lookup(name string) []netip.Addr { return t.current().names[name] }

// Reverse implements Table.
func (t *MemTable) Reverse(addr netip.Addr) []string { return t.current().ptr[addr.Unmap()] }

// current is the read view, built first when a change dropped it.
func (t *MemTable) current() *tableView {
	if v := t.view.Load(); v != nil {
		return v
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if v := t.view.Load(); v != nil {
		return v // built by a reader that got the lock first
	}
	v := t.build()
	t.view.Store(v)
	return v
}

// build makes the read view from the owners, in insertion order, with
// duplicate addresses of a name and duplicate PTR names dropped.
func (t *MemTable) build() *tableView {
	order := make([]string, 0, len(t.owners))
	for o := range t.owners {
		order = append(order, o)
	}
	// Insertion order, so that answers do not depend on map iteration.
	slices.SortFunc(order, func(a, b string) int { return cmp.Compare(t.owners[a].seq, t.owners[b].seq) })
	v := &tableView{names: map[string][]netip.Addr{}, ptr: map[netip.Addr][]string{}}
	for _, o := range order {
		for _, r := range t.owners[o].recs {
			if !slices.Contains(v.names[r.Name], r.Addr) {
				v.names[r.Name] = append(v.names[r.Name], r.Addr)
			}
			if r.PTR && !slices.Contains(v.ptr[r.Addr], r.Name) {
				v.ptr[r.Addr] = append(v.ptr[r.Addr], r.Name)
			}
		}
	}
	return v
}

// Canonical is the form of a name that Table methods receive: lower case,
// without the trailing dot. DNS names compare case-insensitively, and with
// ndots:0 a client asks a bare name as "name.".
func Canonical(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// EndpointRecords are the records Docker 20.10 makes for a container on a
// user-defined network (network.addSvcRecords via the endpoint): its name
// and each alias (network aliases, and the 12-hex short id that the daemon
// adds to them), each also as "<name>.<network>", for every address of the
// endpoint; the container's own "<name>.<network>" answers PTR.
func EndpointRecords(network, name string, aliases []string, addrs ...netip.Addr) []Record {
	var recs []Record
	for _, a := range addrs {
		recs = append(recs, Record{Name: name, Addr: a}, Record{Name: name + "." + network, Addr: a, PTR: true})
		for _, al := range aliases {
			recs = append(recs, Record{Name: al, Addr: a}, Record{Name: al + "." + network, Addr: a})
		}
	}
	return recs
}

// Chain is a Table made of other tables asked in order, the first that
// knows a name or an address answering. A container on several networks
// sees one table per network, in the order it joined them, as Docker's
// sandbox asks its endpoints' networks in turn. It may be changed while a
// Server uses it.
type Chain struct {
	tables atomic.Pointer[[]Table]
}

// NewChain returns a Chain of ts.
func NewChain(ts ...Table) *Chain {
	c := &Chain{}
	c.Set(ts...)
	return c
}

// Set replaces the tables of the chain.
func (c *Chain) Set(ts ...Table) {
	ts = slices.Clone(ts)
	c.tables.Store(&ts)
}

// Lookup implements Table.
func (c *Chain) Lookup(name string) []netip.Addr {
	for _, t := range *c.tables.Load() {
		if addrs := t.Lookup(name); len(addrs) > 0 {
			return addrs
		}
	}
	return nil
}

// Reverse implements Table.
func (c *Chain) Reverse(addr netip.Addr) []string {
	for _, t := range *c.tables.Load() {
		if names := t.Reverse(addr); len(names) > 0 {
			return names
		}
	}
	return nil
}
