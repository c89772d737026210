package netimpl

import (
	"errors"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netns"
)

// SandboxKind says where a sandbox's network namespace comes from.
type SandboxKind int

const (
	// SandboxOwn is a namespace of its own, made for the container (none,
	// bridge, macvlan, overlay modes).
	SandboxOwn SandboxKind = iota
	// SandboxHost is the host's own namespace (host mode).
	SandboxHost
	// SandboxShared is another sandbox's namespace (container:NAME mode).
	SandboxShared
)

func (k SandboxKind) String() string {
	switch k {
	case SandboxOwn:
		return "own"
	case SandboxHost:
		return "host"
	case SandboxShared:
		return "shared"
	}
	return "unknown"
}

// Sandbox is a container's network namespace. It is always pinned at
// /run/netns/<PinName>, also when the namespace is the host's or another
// container's, so that `ip netns exec <name>` reaches what the container
// sees, and at Key.
type Sandbox struct {
	ID          string
	ContainerID string
	// Key is the pin path of the namespace that the engine works through:
	// Docker's sandbox key, <SandboxDir>/<first 12 digits of ID>, when the
	// engine has a SandboxDir, else the /run/netns pin.
	Key  string
	Kind SandboxKind
	// SharedWith is the id of the sandbox whose namespace this one shares
	// (SandboxShared only).
	SharedWith string

	// link is the engine's netlink handle in the namespace, lent to
	// drivers during Join and Leave; copies handed out do not carry it.
	link *sandboxLink
}

// sandboxLink is a route netlink handle in a sandbox's namespace, opened
// when the namespace is made or on first use, closed with the sandbox.
type sandboxLink struct {
	h *netlink.Handle
}

// Netlink returns a route netlink handle bound to the sandbox's namespace.
// The engine owns it: a driver uses it during Join or Leave and neither
// keeps nor closes it.
func (sb *Sandbox) Netlink() (*netlink.Handle, error) {
	if sb.link == nil {
		return nil, errors.New("sandbox " + sb.ID + ": no netlink handle outside the engine")
	}
	if sb.link.h == nil {
		h, err := netns.RouteHandle(sb.Key)
		if err != nil {
			return nil, err
		}
		sb.link.h = h
	}
	return sb.link.h, nil
}

func (l *sandboxLink) close() {
	if l != nil && l.h != nil {
		l.h.Close()
		l.h = nil
	}
}

// public is the sandbox as handed out: without the engine's handle.
func (sb Sandbox) public() Sandbox {
	sb.link = nil
	return sb
}

// SandboxSpec asks for a sandbox. Host and Share are exclusive; neither
// means a fresh namespace with only its loopback up.
type SandboxSpec struct {
	ContainerID string
	// PinName is the /run/netns entry to create (in the mount namespace of
	// the engine's Options.Pins).
	PinName string
	// Host makes the sandbox the host's own namespace.
	Host bool
	// Share names the sandbox (by id) whose namespace to share.
	Share string
}
