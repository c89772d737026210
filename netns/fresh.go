package netns

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vishvananda/netlink/nl"
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
	err := WriteRTNLSysctl("net/ipv6/conf/all/disable_ipv6", "1")
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("disable IPv6: %w", err)
	}
	return nil
}

// WriteRTNLSysctl writes value to the sysctl at key (its path under
// /proc/sys, as OpenSysctl names it) in the calling thread's network
// namespace, unless it holds that value already. It is for the settings the kernel changes
// under the RTNL lock, such as net.ipv4.ip_forward and
// net.ipv6.conf.all.disable_ipv6: the kernel only tries that lock, and
// while another holds it, it restarts the write at once, over and over,
// spinning on the CPU; where a hundred daemons start on two CPUs, the
// spinners even keep the lock's holder from running. So the write waits
// for the lock first, as a mutex waits: an RTM_SETLINK that changes
// nothing on the loopback takes the lock and lets go of it, and the
// write comes right after, when the lock is most likely free.
func WriteRTNLSysctl(key, value string) error {
	fd, err := OpenSysctl(key, unix.O_RDWR)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	buf := make([]byte, 32)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if strings.TrimSpace(string(buf[:n])) == value {
		return nil
	}
	if err := waitRTNL(); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	if _, err := unix.Pwrite(fd, []byte(value+"\n"), 0); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// waitRTNL returns once the calling thread's namespace's RTNL lock was
// free: the kernel takes it, waiting as for a mutex, for an RTM_SETLINK
// on the loopback (index 1 in every namespace) that changes nothing.
func waitRTNL() error {
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = 1
	req.AddData(msg)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("wait for the RTNL: %w", err)
	}
	return nil
}
