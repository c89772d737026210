// Package store is the cluster store of global-scope networks, what
// dockerd's --cluster-store=etcd://IP:2379 gives Docker 20.10's classic
// overlay: every host reads and writes the same networks, their IPAM (a
// /24 of 10.0.0.0/8 each, container addresses), their VXLAN ids and the
// endpoints of every host, and watches them change.
//
// Two implementations share one interface: Local, in memory, for a host
// without a cluster store, and Etcd, a client of the lab's etcd members
// through etcd's v2 key space (internal/etcdv2), the one Docker 20.10's
// libkv writes: the same keys, directories and values (see keys.go and
// codec.go), so that `etcdctl ls /docker` shows on hostd what it shows on
// Docker, and Docker's own rules for what to take: libnetwork's bitmasks
// of addresses and VXLAN ids, each changed by compare-and-swap on its
// index, so that two hosts never take the same subnet, VNI or address.
// As on Docker, an endpoint is a plain key: it stays when its host dies
// (only the host's /docker/nodes key has a TTL); a host that closes its
// store withdraws its endpoints.
package store

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"
)

// Store is the cluster store hostd uses for global-scope networks.
type Store interface {
	// CreateNetwork allocates n's subnet (n.Subnet, or the next free /24
	// of 10.0.0.0/8 after the one this client took last, as Docker picks
	// it) and gateway, and records n. An overlay network gets its VNI at
	// its first join (EnsureVNI). It returns n as stored.
	CreateNetwork(ctx context.Context, n Network) (Network, error)
	// DeleteNetwork removes a network with its allocations; it fails
	// while any host has an endpoint on it.
	DeleteNetwork(ctx context.Context, id string) error
	// Network returns one network by id.
	Network(ctx context.Context, id string) (Network, error)
	// Networks lists every network, sorted by name.
	Networks(ctx context.Context) ([]Network, error)

	// AllocateAddress takes want (zero: the lowest free address) in the
	// network's subnet for this host and returns it with the subnet's
	// length.
	AllocateAddress(ctx context.Context, networkID string, want netip.Addr) (netip.Prefix, error)
	// ReleaseAddress frees an address; a free one is fine.
	ReleaseAddress(ctx context.Context, networkID string, addr netip.Addr) error

	// EnsureVNI returns an overlay network's VNI, taking the next free one
	// after the one this client took last if the network has none yet, as
	// Docker's overlay driver does at a network's first join on any host.
	EnsureVNI(ctx context.Context, networkID string) (uint32, error)

	// PutEndpoint publishes one of this host's endpoints (VTEP is filled
	// in from the store's configuration).
	PutEndpoint(ctx context.Context, ep Endpoint) error
	// DeleteEndpoint withdraws an endpoint; an absent one is fine.
	DeleteEndpoint(ctx context.Context, networkID, endpointID string) error
	// Endpoints lists the endpoints of a network ("" for all networks),
	// sorted by network and name.
	Endpoints(ctx context.Context, networkID string) ([]Endpoint, error)

	// Watch streams the networks and endpoints: first everything there is
	// as added, then Synced, then each change. After a break (the store
	// lost its quorum, the history was compacted) it lists everything
	// again and sends only the difference, then Synced. The channel closes
	// when ctx ends or the store is closed.
	Watch(ctx context.Context) <-chan Event

	// Rewind puts this client's cursors (where its next search for a
	// subnet and a VXLAN id starts) back to where a new client's start, as
	// a dockerd started again has them: a daemon put back to how it
	// started takes the numbers a fresh one would.
	Rewind()

	// Close withdraws the endpoints and addresses this client published
	// and took, and releases the client.
	Close() error
}

// Network is a global network as the store keeps it.
type Network struct {
	ID     string
	Name   string
	Driver string // "overlay" when empty
	// Subnet and Gateway are what IPAM gave: the request's when
	// UserSubnet (UserGateway), else the next free /24 and its first host
	// address.
	Subnet      netip.Prefix
	Gateway     netip.Addr
	IPRange     netip.Prefix // where container addresses come from; zero: the subnet
	UserSubnet  bool
	UserGateway bool
	// VNI is the VXLAN id of an overlay network, from FirstVNI up; 0 until
	// the network is first joined.
	VNI        uint32
	Options    map[string]string
	Labels     map[string]string
	Internal   bool
	Attachable bool
	Created    time.Time
}

// Endpoint is a container's attachment to a network, published by the
// host it runs on.
type Endpoint struct {
	ID        string
	Name      string // the container's name
	NetworkID string
	// VTEP is its host's underlay address (Docker's "locator"), where
	// VXLAN frames for this endpoint go.
	VTEP netip.Addr
	Addr netip.Prefix // the address with the subnet's length
	MAC  net.HardwareAddr
	// Sandbox, Aliases and SrcName are what Docker's endpoint value also
	// tells: the container's sandbox id, its names on the network (its
	// short id), and its interface's name in the host before it was moved.
	Sandbox string
	Aliases []string
	SrcName string
}

// EventKind says what an Event reports.
type EventKind int

const (
	NetworkAdded EventKind = iota + 1
	NetworkDeleted
	EndpointAdded
	EndpointDeleted
	// Synced: the events sent so far describe the whole store at Revision.
	Synced
)

func (k EventKind) String() string {
	switch k {
	case NetworkAdded:
		return "network-added"
	case NetworkDeleted:
		return "network-deleted"
	case EndpointAdded:
		return "endpoint-added"
	case EndpointDeleted:
		return "endpoint-deleted"
	case Synced:
		return "synced"
	}
	return "unknown"
}

// Event is one change. A deletion carries the last value the watcher saw,
// so a peer can be removed with its address, MAC and VTEP.
type Event struct {
	Kind     EventKind
	Network  Network  // NetworkAdded, NetworkDeleted
	Endpoint Endpoint // EndpointAdded, EndpointDeleted
	Revision uint64   // the store's index (0 for Local)
}

// Docker's classic overlay takes VXLAN ids from 256 (libnetwork's
// vxlanIDStart with a cluster store; swarm starts at 4096).
const (
	FirstVNI = 256
	MaxVNI   = 1<<24 - 1
)

// DefaultDriver is the driver of a network created without one.
const DefaultDriver = "overlay"

// ErrUnavailable is what every operation fails with, within a bounded
// time, while the store has no quorum or cannot be reached:
// errors.Is(err, ErrUnavailable).
var ErrUnavailable = errors.New("cluster store is unavailable")

// UnavailableError is ErrUnavailable with its cause.
type UnavailableError struct {
	Op    string // what was asked: "create network ov_net1"
	Cause error
}

func (e *UnavailableError) Error() string {
	return e.Op + ": " + ErrUnavailable.Error() + ": " + e.Cause.Error()
}

func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }
func (e *UnavailableError) Unwrap() error        { return e.Cause }
