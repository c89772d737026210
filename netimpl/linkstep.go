package netimpl

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// The steps every driver whose Join adds an interface to the sandbox
// shares: open the sandbox to receive the link, then, once the link is in
// there, finish it as the endpoint says.

// OpenSandbox returns the engine's netlink handle in sb (see
// Sandbox.Netlink) and a descriptor of sb's namespace, for a link to be
// born in it or moved into it (IFLA_NET_NS_FD). The caller closes the
// descriptor (unix.Close) once the link is there.
func OpenSandbox(sb *Sandbox) (*netlink.Handle, int, error) {
	h, err := sb.Netlink()
	if err != nil {
		return nil, -1, err
	}
	fd, err := unix.Open(sb.Key, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, -1, fmt.Errorf("sandbox %s: %w", sb.Key, err)
	}
	return h, fd, nil
}

// SetupLink finishes the endpoint's interface l, already inside the
// sandbox as ep.IfName with ep.MAC (h is a handle there): it gets ep.Addr
// and comes up, ready to send (netns.SyncLink). Errors name the interface; the
// caller undoes.
func SetupLink(h *netlink.Handle, l netlink.Link, ep *Endpoint) error {
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: ep.Addr}); err != nil {
		return fmt.Errorf("%s: add %s: %w", ep.IfName, ep.Addr, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("%s up: %w", ep.IfName, err)
	}
	return netns.SyncLink(h, l)
}

// SetupMovedLink is SetupLink for a link moved into the sandbox under a
// temporary name: it is renamed to ep.IfName and given ep.MAC first.
func SetupMovedLink(h *netlink.Handle, l netlink.Link, ep *Endpoint) error {
	if err := h.LinkSetName(l, ep.IfName); err != nil {
		return fmt.Errorf("rename %s to %s: %w", l.Attrs().Name, ep.IfName, err)
	}
	if err := h.LinkSetHardwareAddr(l, ep.MAC); err != nil {
		return fmt.Errorf("%s: mac %s: %w", ep.IfName, ep.MAC, err)
	}
	return SetupLink(h, l, ep)
}

// TempLinkName is Docker's name for a host-side veth and libnetwork's
// temporary name for an interface on its way into a sandbox: "veth" and 7
// random hex digits.
func TempLinkName() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("netimpl: crypto/rand: " + err.Error())
	}
	return "veth" + hex.EncodeToString(b[:])[:7]
}

// SetupPeer finishes the far end of a pair MakeEndpointVeth made into the
// sandbox sb: looked up by name when the kernel chose its index, then
// addressed and brought up (SetupLink).
func SetupPeer(sbh *netlink.Handle, made MadeVeth, ep *Endpoint, sb *Sandbox) (netlink.Link, error) {
	var peer netlink.Link = &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: made.Index, Name: ep.IfName}}
	if made.Index == 0 {
		var err error
		if peer, err = sbh.LinkByName(ep.IfName); err != nil {
			return nil, fmt.Errorf("sandbox %s: %s: %w", sb.Key, ep.IfName, err)
		}
	}
	if err := SetupLink(sbh, peer, ep); err != nil {
		return nil, fmt.Errorf("sandbox %s: %w", sb.Key, err)
	}
	return peer, nil
}
