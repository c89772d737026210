package netns

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// DoFresh runs fn on a discarded OS thread inside a brand-new, unnamed
// network namespace. Nothing pins it, so the namespace and everything fn made
// in it vanish when the thread ends (unless fn keeps an fd open), even if the
// process is killed: the right scope for probing what the kernel supports
// without touching any namespace anybody else uses.
func DoFresh(fn func() error) error {
	return onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare network namespace: %w", err)
		}
		return fn()
	})
}

// DisableIPv6 turns IPv6 off in the calling thread's network namespace, as
// Docker 20.10 does in every sandbox whose networks have no IPv6: no
// link-local address, no ::1, and none of the neighbour discovery and
// multicast listener traffic a new interface would otherwise send to every
// port of its bridge. Writing "all" is enough: the kernel applies it to
// "default" (the interfaces to come) and to every interface there is. A
// kernel without IPv6 has nothing to turn off.
func DisableIPv6() error {
	fd, err := unix.Open("/proc/sys/net/ipv6/conf/all/disable_ipv6", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return fmt.Errorf("disable IPv6: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte("1\n")); err != nil {
		return fmt.Errorf("disable IPv6: %w", err)
	}
	return nil
}
