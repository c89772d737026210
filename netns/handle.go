package netns

import (
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
