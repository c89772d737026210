// Package hostdconfig is what the lab tells one hostd about its virtual
// host: the configuration file the lab writes and hostd reads, and the
// checks both sides apply to it (dockerd's --bip). It sits below both, so
// that the lab does not import the daemon to configure it.
package hostdconfig

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// Config is what the lab tells one hostd about its virtual host. The lab
// writes it as JSON to <Root>/hostd.json and starts `nslab-hostd --config
// <Root>/hostd.json` inside the host's network namespace and a new UTS
// namespace. Every field has a usable zero value.
type Config struct {
	// Lab is the lab id; every name hostd makes outside its own
	// namespaces carries it.
	Lab string `json:"lab"`
	// Host is the virtual host's name; hostd sets it as the hostname of
	// its UTS namespace.
	Host string `json:"host"`
	// Root is the host's state directory (/run/nslab/<lab>/<host>):
	// container files (hosts, resolv.conf, hostname) and logs live below it.
	Root string `json:"root"`
	// DataRoot is dockerd's --data-root: what the host keeps on disk and
	// across a restart of hostd (its images and tags, its containers'
	// writable layers under containers/<id>/, its volumes under
	// volumes/<name>/_data). The lab gives each host
	// /var/lib/nslab/labs/<lab>/<host> (not under /run, which may be a
	// small tmpfs); empty: <Root>/data.
	DataRoot string `json:"dataRoot,omitempty"`
	// ImageStore is the machine's image store, shared by every host of
	// every lab; empty: hostd's default ($NSLAB_IMAGE_STORE, else
	// /var/lib/nslab/images).
	ImageStore string `json:"imageStore,omitempty"`
	// Images are the images a host starts with on its first start (a data
	// root without images yet), each an image of the store with its tags,
	// tagged in order as docker load tags them. None: the default image,
	// alpine:latest and busybox:latest, which hostd then puts into the
	// store itself (the lab does that once for all its hosts).
	Images []Image `json:"images,omitempty"`
	// Socket is the unix socket path of the Docker Engine API.
	Socket string `json:"socket"`
	// NetNSPrefix prefixes the /run/netns pin of every container's network
	// namespace: "<lab>-<host>-", so a container cm01 is at
	// /run/netns/<lab>-<host>-cm01.
	NetNSPrefix string `json:"netnsPrefix"`
	// DNS lists the resolvers containers may use outside the embedded DNS.
	// Only addresses inside the lab belong here: nothing may ever be sent
	// to a resolver outside it.
	DNS []string `json:"dns,omitempty"`
	// DefaultBridge is the gateway address and prefix of docker0, like
	// dockerd's --bip: "172.18.0.1/16" puts the default network on
	// 172.18.0.0/16 with gateway 172.18.0.1. Empty: Docker's default, the
	// first free default pool (172.17.0.0/16 on a fresh host).
	DefaultBridge string `json:"defaultBridge,omitempty"`
	// Firewall is the backend that writes Docker's rules in the host's
	// namespace: "iptables" (the default, Docker 20.10's) or "nftables".
	Firewall string `json:"firewall,omitempty"`
	// NoUserlandProxy is dockerd's --userland-proxy=false: published
	// ports get their rules but no proxy (the host's loopback then does
	// not reach them).
	NoUserlandProxy bool `json:"noUserlandProxy,omitempty"`
	// NoICC is dockerd's --icc=false: docker0 drops traffic between its
	// containers, except what --link's rules accept.
	NoICC bool `json:"noICC,omitempty"`
	// ClusterStore is dockerd's --cluster-store: "etcd://IP:2379", one of
	// the lab's etcd members. Empty: no global-scope networks (overlay).
	ClusterStore string `json:"clusterStore,omitempty"`
	// ClusterAdvertise is dockerd's --cluster-advertise: "IP:2375", the
	// host's underlay address that other hosts reach its VXLAN tunnel
	// endpoint at.
	ClusterAdvertise string `json:"clusterAdvertise,omitempty"`
	// Hosts are dockerd's -H besides Socket, where the API is served too:
	// "unix:///var/run/docker.sock" (the path in hostd's mount namespace,
	// the virtual host's own /run) and "tcp://IP:PORT" (a listener in the
	// host's network namespace, plain HTTP as dockerd without --tls).
	Hosts []string `json:"hosts,omitempty"`
	// ExecRoot is dockerd's --exec-root in hostd's mount namespace
	// (/var/run/docker in a virtual host): every container's network
	// namespace is also pinned at <ExecRoot>/netns/<sandbox key>, and each
	// overlay network's at <ExecRoot>/netns/1-<network id>, under Docker's
	// names. Empty: no such pins.
	ExecRoot string `json:"execRoot,omitempty"`
}

// ParseDaemonHost checks one of dockerd's -H values that hostd serves:
// unix://PATH (an absolute path) or tcp://IP:PORT (IPv4, port 1-65535).
func ParseDaemonHost(s string) (network, address string, err error) {
	if path, ok := strings.CutPrefix(s, "unix://"); ok {
		if !filepath.IsAbs(path) || filepath.Clean(path) != path {
			return "", "", fmt.Errorf("%q: want unix:// and an absolute path, such as unix:///var/run/docker.sock", s)
		}
		return "unix", path, nil
	}
	if hp, ok := strings.CutPrefix(s, "tcp://"); ok {
		ap, err := netip.ParseAddrPort(hp)
		if err != nil || !ap.Addr().Is4() || ap.Port() == 0 {
			return "", "", fmt.Errorf("%q: want tcp://IP:PORT with an IPv4 address and a port, such as tcp://0.0.0.0:2375", s)
		}
		return "tcp", ap.String(), nil
	}
	return "", "", fmt.Errorf("%q: want unix://PATH or tcp://IP:PORT", s)
}

// Image is an image of the machine's store with the tags a host gives it.
type Image struct {
	// ID is the image ID, "sha256:" and 64 hex digits.
	ID   string   `json:"id"`
	Tags []string `json:"tags,omitempty"`
}

// ParseBIP checks a --bip value: an IPv4 host address (neither the network
// nor the broadcast address) with a prefix short enough for containers.
func ParseBIP(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 address in CIDR form such as 172.18.0.1/16", s)
	}
	if p.Bits() > 30 {
		return netip.Prefix{}, fmt.Errorf("%s: a /%d leaves no address for containers (at most /30)", s, p.Bits())
	}
	m := p.Masked()
	last := m.Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		last[i/8] |= 0x80 >> (i % 8)
	}
	if p.Addr() == m.Addr() || p.Addr() == netip.AddrFrom4(last) {
		return netip.Prefix{}, fmt.Errorf("%s is the network or broadcast address of %s; the bridge needs a host address such as %s/%d", s, m, m.Addr().Next(), p.Bits())
	}
	return p, nil
}

// Load reads and checks a hostd configuration file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hostd config: %w", err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("hostd config %s: %w", path, err)
	}
	switch {
	case c.Lab == "":
		return nil, fmt.Errorf("hostd config %s: lab is empty", path)
	case c.Host == "":
		return nil, fmt.Errorf("hostd config %s: host is empty", path)
	case c.Root == "" || c.Socket == "":
		return nil, fmt.Errorf("hostd config %s: root and socket are required", path)
	}
	if c.DefaultBridge != "" {
		if _, err := ParseBIP(c.DefaultBridge); err != nil {
			return nil, fmt.Errorf("hostd config %s: defaultBridge: %w", path, err)
		}
	}
	switch c.Firewall {
	case "", "iptables", "nftables":
	default:
		return nil, fmt.Errorf("hostd config %s: firewall %q: want iptables or nftables", path, c.Firewall)
	}
	for _, h := range c.Hosts {
		if _, _, err := ParseDaemonHost(h); err != nil {
			return nil, fmt.Errorf("hostd config %s: hosts: %w", path, err)
		}
	}
	if c.ExecRoot != "" && !filepath.IsAbs(c.ExecRoot) {
		return nil, fmt.Errorf("hostd config %s: execRoot %q: want an absolute path", path, c.ExecRoot)
	}
	c.FillDefaults()
	return &c, nil
}

// FillDefaults gives the fields left empty the defaults that need no
// daemon: the namespace prefix and the data root (ImageStore is hostd's).
func (c *Config) FillDefaults() {
	if c.NetNSPrefix == "" {
		c.NetNSPrefix = c.Lab + "-" + c.Host + "-"
	}
	if c.DataRoot == "" {
		c.DataRoot = filepath.Join(c.Root, "data")
	}
}

// Write stores the configuration at path.
func (c *Config) Write(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
