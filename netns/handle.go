package netns

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// OnThread runs fn on a fresh locked OS thread that the runtime ends when fn
// returns, so fn may change any namespace or fs attribute of its thread
// (setns, unshare of CLONE_FS or CLONE_NEWNS, chdir): no other goroutine
// ever runs there. A process fn starts inherits the thread's namespaces.
func OnThread(fn func() error) error { return onThread(fn) }

// RouteHandle returns a netlink handle for the route family only, bound to
// the namespace at path. Its socket is opened on a throwaway thread inside
// the namespace, so no pooled thread ever switches. Close it.
func RouteHandle(path string) (*netlink.Handle, error) {
	h, err := Call(path, func() (*netlink.Handle, error) { return netlink.NewHandle(unix.NETLINK_ROUTE) })
	if err != nil {
		return nil, fmt.Errorf("netlink handle in %s: %w", path, err)
	}
	return h, nil
}

// FindLink returns the link called name in h's namespace, or nil when the
// namespace has none of that name.
func FindLink(h *netlink.Handle, name string) (netlink.Link, error) {
	l, err := h.LinkByName(name)
	if err != nil {
		if errors.As(err, new(netlink.LinkNotFoundError)) {
			return nil, nil
		}
		return nil, fmt.Errorf("look up link %s: %w", name, err)
	}
	return l, nil
}

// DeleteLink deletes the link called name in h's namespace if it is still
// there; one that is gone, or goes meanwhile (ENODEV), is gone as wanted.
func DeleteLink(h *netlink.Handle, name string) error {
	l, err := FindLink(h, name)
	if err != nil || l == nil {
		return err
	}
	if err := h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// SyncLink has the kernel act on a carrier change of the link now, where
// it would otherwise wait for its link watcher: a worker that a loaded
// machine runs milliseconds to seconds late. Until it ran, a veth whose
// peer just came up has no queue to send on (its packets are dropped) and,
// as a bridge's port, is not enabled (what reaches it is dropped), so the
// first packets to or from a container just started were lost: a
// `docker restart` followed by one ping failed. A request for the one
// link (RTM_GETLINK, not a dump) makes the kernel run the pending change
// first, so that it does not report a carrier it does not yet honour;
// Docker, slower to return from a start, leaves the worker the time.
// The link is looked for by its index, else by its name.
func SyncLink(h *netlink.Handle, l netlink.Link) error {
	var err error
	if a := l.Attrs(); a.Index > 0 {
		_, err = h.LinkByIndex(a.Index)
	} else {
		_, err = h.LinkByName(a.Name)
	}
	if err != nil {
		return fmt.Errorf("sync link %s: %w", l.Attrs().Name, err)
	}
	return nil
}
