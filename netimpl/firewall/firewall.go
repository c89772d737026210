package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/nslab/nslab/netns"
)

// Docker's chain names, shared by both backends so that a student finds the
// same names whichever one a lab uses.
const (
	ChainDocker     = "DOCKER"
	ChainUser       = "DOCKER-USER"
	ChainIsolation1 = "DOCKER-ISOLATION-STAGE-1"
	ChainIsolation2 = "DOCKER-ISOLATION-STAGE-2"
)

// Network is one bridge network as the firewall sees it.
type Network struct {
	Bridge     string       // "docker0", "br-<12hex>"
	Subnet     netip.Prefix // IPv4; host bits are ignored, as Docker masks it
	ICC        bool         // com.docker.network.bridge.enable_icc (Docker's default: true)
	Masquerade bool         // com.docker.network.bridge.enable_ip_masquerade (default: true)
	Internal   bool         // --internal: no way in or out of the subnet
	// GatewayBridge marks docker_gwbridge, which libnetwork creates with
	// enable_icc=false: traffic between its ports is dropped whatever ICC says.
	GatewayBridge bool
}

// icc says whether containers on the bridge may talk to each other.
func (n Network) icc() bool { return n.ICC && !n.GatewayBridge }

// subnet is the masked subnet, as Docker writes it (172.18.0.0/16).
func (n Network) subnet() netip.Prefix { return n.Subnet.Masked() }

// Port is one published port: HostIP:HostPort on the host goes to
// ContainerIP:ContainerPort on Bridge.
type Port struct {
	Bridge        string
	Proto         string     // "tcp" or "udp"
	HostIP        netip.Addr // zero value: every address of the host
	HostPort      uint16
	ContainerIP   netip.Addr
	ContainerPort uint16
}

// normal writes "every address" one way only: the zero Addr.
func (p Port) normal() Port {
	if p.HostIP.IsValid() && p.HostIP.IsUnspecified() {
		p.HostIP = netip.Addr{}
	}
	return p
}

func (p Port) String() string {
	host := "0.0.0.0"
	if p.HostIP.IsValid() {
		host = p.HostIP.String()
	}
	return fmt.Sprintf("%s %s:%d -> %s:%d on %s", p.Proto, host, p.HostPort, p.ContainerIP, p.ContainerPort, p.Bridge)
}

// key identifies the host side of a mapping: two mappings with the same key
// would shadow each other in the DNAT chain.
func (p Port) key() string {
	host := "0.0.0.0"
	if p.HostIP.IsValid() {
		host = p.HostIP.String()
	}
	return fmt.Sprintf("%s %s:%d", p.Proto, host, p.HostPort)
}

// PortProto is an exposed port of a linked container.
type PortProto struct {
	Proto string // "tcp" or "udp"
	Port  uint16
}

// Link is a legacy --link between two containers on a network without ICC:
// From (the container that asked for the link) may reach To on Ports, and
// To's answers from those ports come back, as libnetwork's link.go allows.
type Link struct {
	Bridge string
	From   netip.Addr
	To     netip.Addr
	Ports  []PortProto
}

func (l Link) String() string {
	ports := make([]string, len(l.Ports))
	for i, p := range l.Ports {
		ports[i] = fmt.Sprintf("%d/%s", p.Port, p.Proto)
	}
	return fmt.Sprintf("%s -> %s [%s] on %s", l.From, l.To, strings.Join(ports, " "), l.Bridge)
}

func (l Link) key() string { return fmt.Sprintf("%s %s %s", l.Bridge, l.From, l.To) }

// Backend writes the policy into the network namespace it is bound to.
// Add* of something already present with the same settings does nothing;
// Remove* of something absent does nothing. Every method is atomic from the
// caller's point of view: on error nothing of that call is left behind.
type Backend interface {
	Name() string // "iptables" or "nftables"
	// Setup makes the base chains and jumps, as dockerd does when it starts.
	// It is idempotent. With Options.HoldSetup, the rules may wait for the
	// next call (see WriteHeld).
	Setup() error
	// WriteHeld writes at once what the backend held back of Setup's
	// (Options.HoldSetup): a caller that makes no network after Setup
	// calls it before it relies on the rules being there. Close writes
	// them too. Nothing held, nothing written.
	WriteHeld() error
	AddNetwork(n Network) error
	// RemoveNetwork removes the network's rules, and those of the ports and
	// links still on it.
	RemoveNetwork(n Network) error
	AddPort(p Port) error
	RemovePort(p Port) error
	AddLink(l Link) error
	RemoveLink(l Link) error
	// SetForwardPolicy sets what happens to forwarded traffic no rule
	// accepts: PolicyDrop, which Setup sets as dockerd does when it turns
	// IPv4 forwarding on itself, or PolicyAccept, which a daemon that found
	// forwarding already on leaves (libnetwork's setupIPForwarding).
	SetForwardPolicy(policy string) error
	// Teardown removes everything this backend made, Setup included. The
	// backend may be set up again afterwards.
	Teardown() error
	// Close releases the backend's hold on its namespace (a file descriptor,
	// a netlink socket) and leaves the rules as they are, like dockerd does
	// when it exits.
	Close() error
}

// Backend kinds accepted by New.
const (
	KindIPTables = "iptables"
	KindNFTables = "nftables"
)

// Forward policies, in iptables' words.
const (
	PolicyAccept = "ACCEPT"
	PolicyDrop   = "DROP"
)

func validatePolicy(policy string) error {
	if policy != PolicyAccept && policy != PolicyDrop {
		return fmt.Errorf("forward policy %q: want %s or %s", policy, PolicyAccept, PolicyDrop)
	}
	return nil
}

// ErrClosed is returned by a backend used after Close.
var ErrClosed = errors.New("firewall: backend closed")

// Options are the daemon settings Docker's rules depend on. The zero value
// is Docker 20.10's default daemon.
type Options struct {
	// Hairpin is dockerd's --userland-proxy=false ("hairpin mode"): with no
	// proxy to serve a published port to the host itself and to the
	// port's own bridge, the DNAT applies to them too (no `! -i <bridge>`,
	// no SKIP DNAT rule, the nat OUTPUT jump without `! -d 127.0.0.0/8`),
	// each bridge routes 127/8 (route_localnet) and a MASQUERADE of local
	// sources into the bridge brings the answers back
	// (libnetwork drivers/bridge/setup_ip_tables.go, hpNatRule).
	Hairpin bool
	// Exec runs each call of the iptables backend, which runs the iptables
	// tools with os/exec and waits for them: a daemon that reaps every
	// child process (a subreaper, as hostd is) holds its reaper off them
	// meanwhile. nil runs the calls as they are.
	Exec func(call func() error) error
	// HoldSetup lets the iptables backend hold Setup's rules back, to
	// write them in the same iptables-restore as the next call's rules:
	// at a daemon's start, Setup and docker0's (AddNetwork) then cost one
	// exec of iptables-restore instead of two. Any call writes them first
	// where it cannot take them in, and so do WriteHeld and Close. The
	// nftables backend writes each call at once.
	HoldSetup bool
}

// New returns a backend of the given kind ("" means iptables, Docker 20.10's
// only one), bound to the network namespace of the calling thread.
func New(kind string) (Backend, error) { return NewWithOptions(kind, Options{}) }

// NewWithOptions is New for a daemon with the given settings.
func NewWithOptions(kind string, o Options) (Backend, error) {
	switch kind {
	case "", KindIPTables:
		return newIPTables(o)
	case KindNFTables:
		return newNFTables(o)
	}
	return nil, fmt.Errorf("firewall: unknown backend %q (want %q or %q)", kind, KindIPTables, KindNFTables)
}

// routeLocalnet lets the bridge route 127/8 (net.ipv4.conf.<bridge>.
// route_localnet=1), as dockerd's setupLoopbackAddressesRouting does in
// hairpin mode, so that a DNAT of a connection to 127.0.0.1 can leave
// through it. Run inside the bound namespace.
func routeLocalnet(bridge string) error {
	if err := netns.WriteSysctl("net/ipv4/conf/"+bridge+"/route_localnet", "1"); err != nil {
		return fmt.Errorf("bridge %s: %w", bridge, err)
	}
	return nil
}

func validateNetwork(n Network) error {
	if err := validateBridge(n.Bridge); err != nil {
		return err
	}
	if !n.Subnet.IsValid() || !n.Subnet.Addr().Is4() {
		return fmt.Errorf("network %s: subnet %v: want an IPv4 prefix", n.Bridge, n.Subnet)
	}
	return nil
}

// validateBridge rejects names the kernel would refuse and names that would
// change meaning inside an iptables argument list or an nft comment.
func validateBridge(name string) error {
	if name == "" || len(name) > 15 {
		return fmt.Errorf("bridge %q: name must have 1 to 15 bytes", name)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return fmt.Errorf("bridge %q: invalid character %q", name, c)
		}
	}
	if name[0] == '-' || name[0] == '!' {
		return fmt.Errorf("bridge %q: must not start with %q", name, name[0])
	}
	return nil
}

func validateProto(proto string) error {
	if proto != "tcp" && proto != "udp" {
		return fmt.Errorf("protocol %q: want tcp or udp", proto)
	}
	return nil
}

func validatePort(p Port, n Network) error {
	if err := validateProto(p.Proto); err != nil {
		return fmt.Errorf("port %s: %w", p, err)
	}
	if p.HostIP.IsValid() && !p.HostIP.Is4() {
		return fmt.Errorf("port %s: host address must be IPv4", p)
	}
	if p.HostPort == 0 || p.ContainerPort == 0 {
		return fmt.Errorf("port %s: port 0", p)
	}
	if !p.ContainerIP.Is4() || !n.subnet().Contains(p.ContainerIP) {
		return fmt.Errorf("port %s: container address not in %s's subnet %s", p, n.Bridge, n.subnet())
	}
	return nil
}

func validateLink(l Link, n Network) error {
	for _, a := range []netip.Addr{l.From, l.To} {
		if !a.Is4() || !n.subnet().Contains(a) {
			return fmt.Errorf("link %s: address %v not in %s's subnet %s", l, a, n.Bridge, n.subnet())
		}
	}
	if len(l.Ports) == 0 {
		return fmt.Errorf("link %s: no ports", l)
	}
	for _, p := range l.Ports {
		if err := validateProto(p.Proto); err != nil {
			return fmt.Errorf("link %s: %w", l, err)
		}
		if p.Port == 0 {
			return fmt.Errorf("link %s: port 0", l)
		}
	}
	return nil
}
