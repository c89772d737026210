// Package etcdmember runs one member of an etcd cluster inside the calling
// process, with go.etcd.io/etcd/server/v3/embed, as a cluster store for
// Docker's classic overlay is run on each docker host:
// `etcd --name docker-node1 --listen-peer-urls http://192.168.8.150:2380 ...`
// on each docker host.
//
// The member opens its sockets in the network namespace of the process that
// starts it: hostd runs inside its virtual host's namespace, so a member it
// starts listens on that host's underlay address and on 127.0.0.1 there, and
// nowhere else. Nothing here switches namespaces.
package etcdmember

import (
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Defaults: etcd's well-known client and peer ports and the token of
// etcd's own examples, with timings short enough for tests.
const (
	DefaultClientPort = 2379
	DefaultPeerPort   = 2380
	DefaultToken      = "etcd-cluster"
	// A 50 ms heartbeat and a 500 ms election timeout make a new cluster
	// elect within about a second and notice a dead peer within half a
	// second, on links that never lose packets (veths in one kernel).
	DefaultTickMs     = 50
	DefaultElectionMs = 500
)

// Cluster states, as etcd's --initial-cluster-state spells them.
const (
	StateNew      = "new"
	StateExisting = "existing"
)

// Config describes one member. Start fills in the defaults of a copy.
type Config struct {
	// Name is the member name, e.g. "docker-node1"; a key of InitialCluster.
	Name string
	// DataDir holds the member's WAL and database. A data dir that already
	// holds a member restarts it: etcd then ignores State and InitialCluster.
	DataDir string
	// Advertise is the host's underlay address: the member listens and is
	// announced at http://Advertise:ClientPort and http://Advertise:PeerPort.
	Advertise netip.Addr
	// ClientPort and PeerPort default to 2379 and 2380.
	ClientPort, PeerPort int
	// Loopback also serves clients on http://127.0.0.1:ClientPort, so that
	// a daemon and etcdctl on the member's own host reach it there, as
	// --listen-client-urls http://IP:2379,http://127.0.0.1:2379 does (not
	// advertised to the cluster).
	Loopback bool
	// InitialCluster names every member of the cluster at bootstrap, this
	// one included, with its underlay address; each member's peer URL is
	// http://ADDR:PeerPort.
	InitialCluster map[string]netip.Addr
	// Token is the --initial-cluster-token (default "etcd-cluster").
	Token string
	// State is "new" (default) to bootstrap a cluster, or "existing" to
	// join one that runs already.
	State string
	// TickMs and ElectionMs are the heartbeat interval and the election
	// timeout (defaults 50 and 500; etcd's own are 100 and 1000). Every
	// member of a cluster should use the same values.
	TickMs, ElectionMs uint
	// EnableV2 also serves the v2 API (/v2/keys), which real Docker 20.10's
	// --cluster-store speaks. Its keys live apart from the v3 keyspace.
	EnableV2 bool
	// Logger receives etcd's JSON log lines. Nil discards them: etcd logs
	// several lines per second while a cluster forms or loses a member.
	Logger io.Writer
}

// memberName is what etcd accepts in --initial-cluster without quoting
// trouble: names such as docker-node1 and node1, and the lab's host names.
var memberName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// withDefaults returns a copy of c with the zero fields set to the defaults.
func (c Config) withDefaults() Config {
	if c.ClientPort == 0 {
		c.ClientPort = DefaultClientPort
	}
	if c.PeerPort == 0 {
		c.PeerPort = DefaultPeerPort
	}
	if c.Token == "" {
		c.Token = DefaultToken
	}
	if c.State == "" {
		c.State = StateNew
	}
	if c.TickMs == 0 {
		c.TickMs = DefaultTickMs
	}
	if c.ElectionMs == 0 {
		c.ElectionMs = DefaultElectionMs
	}
	return c
}

// validate checks a config that has its defaults, before anything is opened.
func (c Config) validate() error {
	if !memberName.MatchString(c.Name) {
		return fmt.Errorf("member name %q: want letters, digits, '.', '_' or '-' (at most 63)", c.Name)
	}
	if c.DataDir == "" {
		return fmt.Errorf("member %s: data dir is empty", c.Name)
	}
	if !c.Advertise.IsValid() || c.Advertise.IsUnspecified() || c.Advertise.Zone() != "" {
		return fmt.Errorf("member %s: advertise address %q: want a unicast address without zone", c.Name, c.Advertise)
	}
	for _, p := range []struct {
		what string
		port int
	}{{"client", c.ClientPort}, {"peer", c.PeerPort}} {
		if p.port < 1 || p.port > 65535 {
			return fmt.Errorf("member %s: %s port %d out of range", c.Name, p.what, p.port)
		}
	}
	if c.ClientPort == c.PeerPort {
		return fmt.Errorf("member %s: client and peer port are both %d", c.Name, c.PeerPort)
	}
	if c.Loopback && c.Advertise.Unmap().IsLoopback() {
		return fmt.Errorf("member %s: advertise address %s is a loopback address already; drop Loopback", c.Name, c.Advertise)
	}
	if len(c.InitialCluster) == 0 {
		return fmt.Errorf("member %s: initial cluster is empty", c.Name)
	}
	seen := map[netip.Addr]string{}
	for name, addr := range c.InitialCluster {
		if !memberName.MatchString(name) {
			return fmt.Errorf("member %s: initial cluster: name %q: want letters, digits, '.', '_' or '-'", c.Name, name)
		}
		if !addr.IsValid() || addr.IsUnspecified() || addr.Zone() != "" {
			return fmt.Errorf("member %s: initial cluster: %s: address %q: want a unicast address without zone", c.Name, name, addr)
		}
		if other, dup := seen[addr]; dup {
			return fmt.Errorf("member %s: initial cluster: %s and %s share address %s", c.Name, name, other, addr)
		}
		seen[addr] = name
	}
	own, ok := c.InitialCluster[c.Name]
	if !ok {
		return fmt.Errorf("member %s: not in its initial cluster %s", c.Name, c.initialCluster())
	}
	if own != c.Advertise {
		return fmt.Errorf("member %s: initial cluster gives it %s, but it advertises %s", c.Name, own, c.Advertise)
	}
	if c.State != StateNew && c.State != StateExisting {
		return fmt.Errorf("member %s: state %q: want %q or %q", c.Name, c.State, StateNew, StateExisting)
	}
	if c.Token == "" || strings.ContainsAny(c.Token, " ,=") {
		return fmt.Errorf("member %s: token %q: want a non-empty word", c.Name, c.Token)
	}
	// etcd's own limits (embed.Config.Validate), said here with the field
	// names of this package.
	if c.ElectionMs < 5*c.TickMs {
		return fmt.Errorf("member %s: election timeout %d ms is under 5 ticks of %d ms", c.Name, c.ElectionMs, c.TickMs)
	}
	if c.ElectionMs > 50000 {
		return fmt.Errorf("member %s: election timeout %d ms is over 50 s", c.Name, c.ElectionMs)
	}
	return nil
}

// httpURL is http://ADDR:PORT, with IPv6 addresses in brackets.
func httpURL(a netip.Addr, port int) url.URL {
	return url.URL{Scheme: "http", Host: netip.AddrPortFrom(a, uint16(port)).String()}
}

func (c Config) peerURL() url.URL   { return httpURL(c.Advertise, c.PeerPort) }
func (c Config) clientURL() url.URL { return httpURL(c.Advertise, c.ClientPort) }

// listenClientURLs are where clients reach the member: the underlay address
// first, then the host's loopback when asked for.
func (c Config) listenClientURLs() []url.URL {
	urls := []url.URL{c.clientURL()}
	if c.Loopback {
		urls = append(urls, httpURL(netip.AddrFrom4([4]byte{127, 0, 0, 1}), c.ClientPort))
	}
	return urls
}

// initialCluster is the --initial-cluster string, sorted by name so that
// every member computes the same cluster id from the same map.
func (c Config) initialCluster() string {
	names := make([]string, 0, len(c.InitialCluster))
	for name := range c.InitialCluster {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, name := range names {
		u := httpURL(c.InitialCluster[name], c.PeerPort)
		parts[i] = name + "=" + u.String()
	}
	return strings.Join(parts, ",")
}
