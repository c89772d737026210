// Package lab builds virtual hosts as network namespaces joined by veth legs
// into a per-lab fabric namespace, runs hostd on each docker host, and takes
// it all down again. Nothing it makes lives in the machine's root namespace,
// and every name it makes carries the lab's id.
package lab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nslab/nslab/hostdconfig"
	"github.com/nslab/nslab/internal/yamldoc"
)

// Topology is a parsed and validated lab description.
type Topology struct {
	// Name is an optional label.
	Name string `json:"name,omitempty"`
	// File is the path the topology was read from ("" when built in code).
	File     string     `json:"file,omitempty"`
	Segments []Segment  `json:"segments"`
	Hosts    []HostSpec `json:"hosts"`
	// Etcd tunes the cluster of the hosts' etcd members (HostSpec.Etcd);
	// nil: the defaults.
	Etcd *EtcdSettings `json:"etcd,omitempty"`
	// Images are `docker save` archives every docker host starts with,
	// after the default image (alpine:latest, busybox:latest). A file
	// names them relative to itself; they are absolute once parsed.
	Images []string `json:"images,omitempty"`
}

// EtcdSettings are the settings every member of a lab's etcd cluster
// shares; zero fields take the defaults (token "etcd-cluster", etcd's
// usual one; a 50 ms heartbeat and a 500 ms election timeout).
type EtcdSettings struct {
	Token      string `json:"token,omitempty"`
	TickMs     uint   `json:"tickMs,omitempty"`
	ElectionMs uint   `json:"electionMs,omitempty"`
}

// EtcdMember makes a host a member of the lab's etcd cluster: the lab
// starts it in the host before the daemons, listening on Address (client
// port 2379, peer port 2380) and on 127.0.0.1:2379, as
// `etcd --name docker-node1 --listen-client-urls http://IP:2379,http://127.0.0.1:2379 ...` does.
type EtcdMember struct {
	// Name is the member name ("docker-node1", "node1").
	Name string `json:"name"`
	// Address is one of the host's interface addresses; a file that omits
	// it gets the host's first one.
	Address netip.Addr `json:"address,omitzero"`
}

// Segment is an L2 segment: one Linux bridge in the fabric namespace.
type Segment struct {
	Name   string       `json:"name"`
	Prefix netip.Prefix `json:"prefix"`
}

// Host kinds.
const (
	KindDocker = "docker" // runs hostd
	KindPlain  = "plain"  // a bare namespace: router, outside host, playground
)

// HostSpec describes one virtual host.
type HostSpec struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Forwarding is net.ipv4.ip_forward when the host is made. A docker
	// host's daemon turns it on when it starts either way; Docker 20.10
	// then sets the FORWARD policy to DROP only if it is the one that did
	// (a freshly booted machine), and leaves it as it was (ACCEPT) on a
	// host where forwarding was on before it started.
	Forwarding bool            `json:"forwarding"`
	Interfaces []InterfaceSpec `json:"interfaces,omitempty"`
	Routes     []RouteSpec     `json:"routes,omitempty"`
	DNS        []netip.Addr    `json:"dns,omitempty"`
	Containers []ContainerSpec `json:"containers,omitempty"`
	// Bridge is docker0's gateway address and prefix, like dockerd's
	// --bip ("172.18.0.1/16"); zero: Docker's default (172.17.0.1/16 on a
	// fresh host). Docker hosts only.
	Bridge netip.Prefix `json:"bridge,omitzero"`
	// Firewall is the backend writing Docker's rules: "iptables" (the
	// default, Docker 20.10's) or "nftables". Docker hosts only.
	Firewall string `json:"firewall,omitempty"`
	// NoUserlandProxy is `userland_proxy: false` (dockerd's
	// --userland-proxy=false). Docker hosts only.
	NoUserlandProxy bool `json:"noUserlandProxy,omitempty"`
	// NoICC is `icc: false` (dockerd's --icc=false): containers on docker0
	// talk only through --link's rules. Docker hosts only.
	NoICC bool `json:"noICC,omitempty"`
	// Etcd makes the host a member of the lab's etcd cluster (any kind of
	// host); nil: none.
	Etcd *EtcdMember `json:"etcd,omitempty"`
	// ClusterStore is dockerd's --cluster-store, "etcd://IP:2379" with IP
	// a member's address (or 127.0.0.1 on a member's own host), and
	// ClusterAdvertise its --cluster-advertise, "IP:PORT" with IP one of
	// the host's own addresses (port 2375 by convention: Docker's API
	// port, which classic overlay advertises). Docker hosts
	// only; both or neither.
	ClusterStore     string `json:"clusterStore,omitempty"`
	ClusterAdvertise string `json:"clusterAdvertise,omitempty"`
	// API lists where the host's daemon serves the Docker API inside the
	// host, as dockerd's -H: APIUnix (/var/run/docker.sock, what the
	// docker CLI typed in the host finds; "unix" in a file) and
	// "tcp://IP:PORT" with IP one of the host's addresses, 0.0.0.0 or
	// 127.0.0.1 (seed 000's `-H tcp://0.0.0.0:2375`). The lab's own socket
	// in the state directory is always there besides. Docker hosts only;
	// default [APIUnix].
	API []string `json:"api,omitempty"`
	// OVS runs Open vSwitch in the host: its own database and run
	// directory under the host's /run/openvswitch, ovsdb-server and
	// ovs-vswitchd started by the lab (see ovs.go). Any kind of host.
	OVS bool `json:"ovs,omitempty"`
}

// APIUnix is the Docker API socket inside a host, dockerd's default.
const APIUnix = "unix:///var/run/docker.sock"

// InterfaceSpec is one veth leg of a host into a segment.
type InterfaceSpec struct {
	Name    string       `json:"name"`
	Segment string       `json:"segment"`
	Address netip.Prefix `json:"address,omitzero"` // zero: no address
	MAC     string       `json:"mac,omitempty"`
	// Impairment degrades the interface's link from the start (rate:,
	// loss:, delay:, jitter:, direction:); nil: a clean link.
	Impairment *Impairment `json:"impairment,omitempty"`
}

// RouteSpec is a static route of a host.
type RouteSpec struct {
	To  netip.Prefix `json:"to"` // 0.0.0.0/0 for default
	Via netip.Addr   `json:"via"`
}

// ContainerSpec is a container created through the host's Docker API once
// hostd answers.
type ContainerSpec struct {
	Name    string   `json:"name"`
	Image   string   `json:"image"`
	Network string   `json:"network"`
	Command []string `json:"command,omitempty"`
}

// Problem is one thing wrong with a topology, located in its file.
type Problem = yamldoc.Problem

// TopologyError lists every problem found in a topology, one a line;
// nothing was created because of it. errors.Is and errors.As see the
// errors behind the problems.
type TopologyError struct {
	yamldoc.Problems
}

// LoadTopology reads, parses and validates a topology file.
func LoadTopology(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	return ParseTopology(path, data)
}

// ParseTopology parses and validates a topology; file names it in errors.
func ParseTopology(file string, data []byte) (*Topology, error) {
	d := &decoder{yamldoc.New(file)}
	t := d.document(data)
	if len(d.Problems) > 0 {
		return nil, &TopologyError{Problems: d.Problems}
	}
	t.File = file
	t.applyDefaults()
	if ps := t.check(d.Lines); len(ps) > 0 {
		return nil, &TopologyError{Problems: ps}
	}
	return t, nil
}

// lines maps a field path ("hosts[1].interfaces[0].address") to the line
// it was written on, so validation can point at it after decoding.
type lines map[string]int

// at returns the line of path, or of its closest written ancestor (a field
// left to its default has no line of its own); line 1 for what a file
// lacks altogether, 0 without a file.
func (l lines) at(path string) int {
	if l == nil {
		return 0
	}
	for path != "" {
		if n, ok := l[path]; ok {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 1
}

// decoder reads a topology's nodes.
type decoder struct{ *yamldoc.Decoder }

func (d *decoder) document(data []byte) *Topology {
	t := &Topology{}
	root, ok := d.Root(data, "topology", "a topology needs at least one host")
	if !ok {
		return t
	}
	d.Mapping(root, "", map[string]func(*yaml.Node, string){
		"name": func(v *yaml.Node, f string) { t.Name = d.Str(v, f) },
		"segments": func(v *yaml.Node, f string) {
			d.Seq(v, f, func(item *yaml.Node, p string) { t.Segments = append(t.Segments, d.segment(item, p)) })
		},
		"hosts": func(v *yaml.Node, f string) {
			d.Seq(v, f, func(item *yaml.Node, p string) { t.Hosts = append(t.Hosts, d.host(item, p)) })
		},
		"etcd": func(v *yaml.Node, f string) { t.Etcd = d.etcdSettings(v, f) },
		"images": func(v *yaml.Node, f string) {
			d.Seq(v, f, func(item *yaml.Node, p string) { t.Images = append(t.Images, d.path(item, p)) })
		},
	})
	return t
}

// path reads a file name, relative to the topology file's directory.
func (d *decoder) path(n *yaml.Node, field string) string {
	s := d.Str(n, field)
	if s == "" || filepath.IsAbs(s) {
		return s
	}
	abs, err := filepath.Abs(filepath.Join(filepath.Dir(d.File), s))
	if err != nil {
		d.Errorf(n.Line, field, "%v", err)
		return s
	}
	return abs
}

func (d *decoder) etcdSettings(n *yaml.Node, path string) *EtcdSettings {
	e := &EtcdSettings{}
	d.Mapping(n, path, map[string]func(*yaml.Node, string){
		"token":       func(v *yaml.Node, f string) { e.Token = d.Str(v, f) },
		"tick_ms":     func(v *yaml.Node, f string) { e.TickMs = d.millis(v, f) },
		"election_ms": func(v *yaml.Node, f string) { e.ElectionMs = d.millis(v, f) },
	})
	return e
}

func (d *decoder) etcdMember(n *yaml.Node, path string) *EtcdMember {
	m := &EtcdMember{}
	d.Mapping(n, path, map[string]func(*yaml.Node, string){
		"name":    func(v *yaml.Node, f string) { m.Name = d.Str(v, f) },
		"address": func(v *yaml.Node, f string) { m.Address = d.addr(v, f) },
	})
	d.Require(n, path, "name")
	return m
}

// millis parses a positive whole number of milliseconds.
func (d *decoder) millis(n *yaml.Node, path string) uint {
	var v uint
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil || v == 0 {
		d.Errorf(n.Line, path, "must be a positive whole number of milliseconds, not %q", n.Value)
		return 0
	}
	return v
}

func (d *decoder) segment(n *yaml.Node, path string) Segment {
	var s Segment
	d.Mapping(n, path, map[string]func(*yaml.Node, string){
		"name":   func(v *yaml.Node, f string) { s.Name = d.Str(v, f) },
		"prefix": func(v *yaml.Node, f string) { s.Prefix = d.prefix(v, f) },
	})
	d.Require(n, path, "name", "prefix")
	return s
}

func (d *decoder) host(n *yaml.Node, path string) HostSpec {
	var h HostSpec
	d.Mapping(n, path, map[string]func(*yaml.Node, string){
		"name":       func(v *yaml.Node, f string) { h.Name = d.Str(v, f) },
		"kind":       func(v *yaml.Node, f string) { h.Kind = d.Str(v, f) },
		"forwarding": func(v *yaml.Node, f string) { h.Forwarding = d.Bool(v, f) },
		"interfaces": func(v *yaml.Node, f string) {
			d.Seq(v, f, func(item *yaml.Node, p string) { h.Interfaces = append(h.Interfaces, d.iface(item, p)) })
		},
		"routes": func(v *yaml.Node, f string) {
			d.Seq(v, f, func(item *yaml.Node, p string) { h.Routes = append(h.Routes, d.route(item, p)) })
		},
		"dns": func(v *yaml.Node, f string) {
			d.Seq(v, f, func(item *yaml.Node, p string) { h.DNS = append(h.DNS, d.addr(item, p)) })
		},
		"containers": func(v *yaml.Node, f string) {
			d.Seq(v, f, func(item *yaml.Node, p string) { h.Containers = append(h.Containers, d.container(item, p)) })
		},
		"bridge": func(v *yaml.Node, f string) { h.Bridge = d.bridgeAddr(v, f) },
		"firewall": func(v *yaml.Node, f string) {
			h.Firewall = d.Str(v, f)
			if h.Firewall != "iptables" && h.Firewall != "nftables" {
				d.Errorf(v.Line, f, "firewall %q: want iptables or nftables", h.Firewall)
			}
		},
		"userland_proxy":    func(v *yaml.Node, f string) { h.NoUserlandProxy = !d.Bool(v, f) },
		"icc":               func(v *yaml.Node, f string) { h.NoICC = !d.Bool(v, f) },
		"etcd":              func(v *yaml.Node, f string) { h.Etcd = d.etcdMember(v, f) },
		"cluster_store":     func(v *yaml.Node, f string) { h.ClusterStore = d.Str(v, f) },
		"cluster_advertise": func(v *yaml.Node, f string) { h.ClusterAdvertise = d.Str(v, f) },
		"api": func(v *yaml.Node, f string) {
			d.Seq(v, f, func(item *yaml.Node, p string) { h.API = append(h.API, d.Str(item, p)) })
		},
		"ovs": func(v *yaml.Node, f string) { h.OVS = d.Bool(v, f) },
	})
	if (h.ClusterStore != "" || h.ClusterAdvertise != "") && h.Kind == KindPlain {
		f := path + ".cluster_store"
		if h.ClusterStore == "" {
			f = path + ".cluster_advertise"
		}
		d.Errorf(d.Lines[f], f, "host %s is plain and runs no daemon; a cluster store needs kind %s", h.Name, KindDocker)
	}
	if h.NoICC && h.Kind == KindPlain {
		d.Errorf(d.Lines[path+".icc"], path+".icc", "host %s is plain and runs no daemon; icc needs kind %s", h.Name, KindDocker)
	}
	if (h.Firewall != "" || h.NoUserlandProxy) && h.Kind == KindPlain {
		d.Errorf(d.Lines[path+".firewall"], path, "host %s is plain and runs no daemon; firewall and userland_proxy need kind %s", h.Name, KindDocker)
	}
	d.Require(n, path, "name")
	if h.Bridge.IsValid() && h.Kind == KindPlain {
		d.Errorf(d.Lines[path+".bridge"], path+".bridge", "host %s is plain and runs no daemon; a default bridge needs kind %s", h.Name, KindDocker)
	}
	return h
}

func (d *decoder) iface(n *yaml.Node, path string) InterfaceSpec {
	var i InterfaceSpec
	d.Mapping(n, path, map[string]func(*yaml.Node, string){
		"segment":   func(v *yaml.Node, f string) { i.Segment = d.Str(v, f) },
		"name":      func(v *yaml.Node, f string) { i.Name = d.Str(v, f) },
		"address":   func(v *yaml.Node, f string) { i.Address = d.hostPrefix(v, f) },
		"mac":       func(v *yaml.Node, f string) { i.MAC = d.Str(v, f) },
		"rate":      func(v *yaml.Node, f string) { d.impairment(&i).Rate = yamldoc.Scalar(d.Decoder, v, f, ParseRate) },
		"loss":      func(v *yaml.Node, f string) { d.impairment(&i).Loss = yamldoc.Scalar(d.Decoder, v, f, ParseLoss) },
		"delay":     func(v *yaml.Node, f string) { d.impairment(&i).Delay = yamldoc.Scalar(d.Decoder, v, f, ParseDelay) },
		"jitter":    func(v *yaml.Node, f string) { d.impairment(&i).Jitter = yamldoc.Scalar(d.Decoder, v, f, ParseDelay) },
		"direction": func(v *yaml.Node, f string) { d.impairment(&i).Direction = d.Str(v, f) },
	})
	d.Require(n, path, "segment")
	return i
}

// impairment returns the interface's impairment, made on its first field.
func (d *decoder) impairment(i *InterfaceSpec) *Impairment {
	if i.Impairment == nil {
		i.Impairment = &Impairment{}
	}
	return i.Impairment
}

func (d *decoder) route(n *yaml.Node, path string) RouteSpec {
	var r RouteSpec
	d.Mapping(n, path, map[string]func(*yaml.Node, string){
		"to": func(v *yaml.Node, f string) {
			if d.Str(v, f) == "default" {
				r.To = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
				return
			}
			r.To = d.prefix(v, f)
		},
		"via": func(v *yaml.Node, f string) { r.Via = d.addr(v, f) },
	})
	d.Require(n, path, "to", "via")
	return r
}

func (d *decoder) container(n *yaml.Node, path string) ContainerSpec {
	var c ContainerSpec
	d.Mapping(n, path, map[string]func(*yaml.Node, string){
		"name":    func(v *yaml.Node, f string) { c.Name = d.Str(v, f) },
		"image":   func(v *yaml.Node, f string) { c.Image = d.Str(v, f) },
		"network": func(v *yaml.Node, f string) { c.Network = d.Str(v, f) },
		"command": func(v *yaml.Node, f string) {
			d.Seq(v, f, func(item *yaml.Node, p string) { c.Command = append(c.Command, d.Str(item, p)) })
		},
	})
	d.Require(n, path, "name")
	return c
}

// prefix parses a network prefix such as 192.168.8.0/24.
func (d *decoder) prefix(n *yaml.Node, path string) netip.Prefix {
	return yamldoc.Scalar(d.Decoder, n, path, refusedAs(netip.ParsePrefix, "%q is not a CIDR prefix such as 192.168.8.0/24"))
}

// hostPrefix parses an interface address such as 192.168.8.150/24.
func (d *decoder) hostPrefix(n *yaml.Node, path string) netip.Prefix {
	return yamldoc.Scalar(d.Decoder, n, path, refusedAs(netip.ParsePrefix, "%q is not an address in CIDR form such as 192.168.8.150/24"))
}

// bridgeAddr parses docker0's address as dockerd's --bip takes it: an
// IPv4 host address with its prefix, such as 172.18.0.1/16.
func (d *decoder) bridgeAddr(n *yaml.Node, path string) netip.Prefix {
	return yamldoc.Scalar(d.Decoder, n, path, hostdconfig.ParseBIP)
}

func (d *decoder) addr(n *yaml.Node, path string) netip.Addr {
	return yamldoc.Scalar(d.Decoder, n, path, refusedAs(netip.ParseAddr, "%q is not an IP address"))
}

// refusedAs is parse with the problem a topology reports when parse
// refuses a value: format applied to the value, which says what was
// expected, in place of the parser's own words.
func refusedAs[T any](parse func(string) (T, error), format string) func(string) (T, error) {
	return func(s string) (T, error) {
		v, err := parse(s)
		if err != nil {
			return v, fmt.Errorf(format, s)
		}
		return v, nil
	}
}
