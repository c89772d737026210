// Package gre makes an Ethernet-over-GRE link ("gretap", what Open vSwitch
// builds for `ovs-vsctl add-port br0 gre0 -- set interface gre0 type=gre
// options:remote_ip=...`) in the caller's network namespace: the kernel's
// gretap where the kernel has one, otherwise a userspace one made of a TAP
// device and a raw IPv4 socket for protocol 47. Both put the same packets on
// the wire: IPv4 protocol 47, GRE version 0, protocol 0x6558 (Transparent
// Ethernet Bridging), the optional key and checksum, the inner Ethernet frame.
package gre

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Config describes one point-to-point gretap link.
type Config struct {
	// Name is the link name in the namespace, e.g. "gre0" (at most 15 bytes).
	Name string
	// Local and Remote are the IPv4 underlay addresses of the two ends.
	// Local must be an address of the namespace.
	Local, Remote netip.Addr
	// Key, when set, is sent in every packet and required on every packet
	// received (the kernel's ikey = okey).
	Key *uint32
	// Checksum sets the GRE checksum on send and requires a valid one on
	// receive; like the kernel, a packet whose checksum presence differs
	// from the configuration is dropped.
	Checksum bool
	// MTU of the link (the inner Ethernet payload). 0 means what the kernel
	// computes: the MTU towards Remote minus 20 (IPv4) + 4 (GRE) + 4 (key,
	// if set) + 4 (checksum, if set) + 14 (inner Ethernet header).
	MTU int
	// Bridge, when set, names a Linux bridge of the namespace (e.g.
	// "docker0") that the link is enslaved to.
	Bridge string
}

// Tunnel is a gretap link that exists until Close.
type Tunnel interface {
	Name() string
	// Impl says which implementation carries it: "kernel" or "userspace".
	Impl() string
	Stats() Stats
	// Close stops the tunnel and removes the link.
	Close() error
}

// Implementation names returned by Tunnel.Impl.
const (
	ImplKernel    = "kernel"
	ImplUserspace = "userspace"
)

// Stats counts a tunnel's traffic. Rx counters are frames that came out of
// the tunnel into the link, Tx counters frames that went into the tunnel.
// The Rx drop reasons are counted separately by the userspace tunnel; the
// kernel reports only what its link statistics have (errors, CRC errors).
type Stats struct {
	TxPackets, TxBytes uint64 // inner frames sent (after segmentation)
	RxPackets, RxBytes uint64 // inner frames delivered to the link
	TxErrors           uint64 // frames that could not be encapsulated or sent
	RxErrors           uint64 // all received packets dropped, for any reason below

	RxWrongSource   uint64 // outer source is not Remote
	RxBadHeader     uint64 // not IPv4, GRE version not 0, routing present, truncated
	RxWrongProtocol uint64 // GRE protocol is not 0x6558
	RxKeyMismatch   uint64 // key missing, unexpected or different
	RxChecksum      uint64 // checksum missing, unexpected or wrong
}

const (
	// ProtoTEB is the GRE protocol type of an Ethernet payload
	// (Transparent Ethernet Bridging).
	ProtoTEB = 0x6558
	// IPProtoGRE is the IPv4 protocol number of GRE.
	IPProtoGRE = 47

	ipv4HeaderLen = 20
	ethHeaderLen  = 14
	maxNameLen    = 15 // IFNAMSIZ - 1
	minMTU        = 68 // the smallest IPv4 MTU, the kernel's lower bound
	maxMTU        = 65535 - ipv4HeaderLen - maxGREHeaderLen - ethHeaderLen
)

// Overhead is what encapsulation adds to an inner MTU: outer IPv4 header,
// GRE header with its options, inner Ethernet header.
func Overhead(key, checksum bool) int {
	return ipv4HeaderLen + greHeaderLen(key, checksum) + ethHeaderLen
}

// Create makes the tunnel in the calling thread's network namespace: the
// kernel's gretap when KernelAvailable, the userspace one otherwise.
func Create(cfg Config) (Tunnel, error) {
	if KernelAvailable() {
		return CreateKernel(cfg)
	}
	return CreateUserspace(cfg)
}

// validate checks everything about cfg that can be checked without the
// kernel, so that a bad config fails before anything is made.
func (cfg *Config) validate() error {
	if err := checkLinkName(cfg.Name); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if cfg.Bridge != "" {
		if err := checkLinkName(cfg.Bridge); err != nil {
			return fmt.Errorf("bridge: %w", err)
		}
	}
	for _, a := range []struct {
		what string
		addr *netip.Addr
	}{{"local", &cfg.Local}, {"remote", &cfg.Remote}} {
		*a.addr = a.addr.Unmap()
		switch {
		case !a.addr.IsValid():
			return fmt.Errorf("%s address missing", a.what)
		case !a.addr.Is4():
			return fmt.Errorf("%s address %s: only IPv4 underlays are supported", a.what, a.addr)
		case a.addr.IsUnspecified() || a.addr.IsMulticast() || *a.addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			return fmt.Errorf("%s address %s is not a unicast address", a.what, a.addr)
		}
	}
	if cfg.Local == cfg.Remote {
		return fmt.Errorf("local and remote are both %s", cfg.Local)
	}
	if cfg.MTU != 0 && (cfg.MTU < minMTU || cfg.MTU > maxMTU) {
		return fmt.Errorf("mtu %d outside %d..%d", cfg.MTU, minMTU, maxMTU)
	}
	return nil
}

// checkLinkName applies the kernel's dev_valid_name rules.
func checkLinkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty link name")
	case len(name) > maxNameLen:
		return fmt.Errorf("link name %q is %d bytes, the kernel allows %d", name, len(name), maxNameLen)
	case name == "." || name == "..":
		return fmt.Errorf("link name %q not allowed", name)
	case strings.ContainsAny(name, "/: \t\n\r\v\f"):
		return fmt.Errorf("link name %q contains '/', ':' or white space", name)
	}
	return nil
}

// create validates cfg, then makes the tunnel with newTunnel; impl names
// the implementation in newTunnel's errors.
func create[T Tunnel](cfg Config, impl string, newTunnel func(Config) (T, error)) (Tunnel, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("gre %s: %w", cfg.Name, err)
	}
	t, err := newTunnel(cfg)
	if err != nil {
		return nil, fmt.Errorf("gre %s: %s: %w", cfg.Name, impl, err)
	}
	return t, nil
}
