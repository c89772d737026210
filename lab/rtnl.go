package lab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// rtnlConn is a route netlink socket opened inside one namespace, for the
// one request that makes a host's leg. The netlink package would make
// three of it (create, look the index up, set the master), each a trip
// through the kernel's rtnl lock that every namespace of the machine
// shares, and its request runner stops reading at an echoed message
// before the acknowledgement that may still carry an error.
type rtnlConn struct {
	fd  int
	seq uint32
	buf []byte
}

// dialRtnl opens a route netlink socket inside the namespace at pin.
func dialRtnl(pin string) (*rtnlConn, error) {
	c := &rtnlConn{fd: -1, buf: make([]byte, 1<<16)}
	err := netns.Do(pin, func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("netlink socket: %w", err)
		}
		c.fd = fd
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pin, err)
	}
	// The kernel's message with an error ("Master is full", ...), and
	// acknowledgements without a copy of the request.
	unix.SetsockoptInt(c.fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	unix.SetsockoptInt(c.fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	return c, nil
}

func (c *rtnlConn) Close() {
	if c != nil && c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
}

// veth is one veth pair as the fabric makes it: its end here enslaved to a
// bridge and up, the peer named and placed in another namespace.
type veth struct {
	name   string // the end in the socket's namespace
	master int    // the bridge it joins (ifindex)
	peer   string // the other end's name
	peerNS int    // fd of the namespace the peer goes to
	mac    net.HardwareAddr
}

// addVeth creates v in one request and returns the ifindex of its peer in
// the peer's namespace: the kernel echoes the new link (NLM_F_ECHO), whose
// IFLA_LINK is the peer's index. 0 means the kernel did not echo it.
func (c *rtnlConn) addVeth(v veth) (int, error) {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK|unix.NLM_F_ECHO)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(v.name)))
	if v.master != 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(v.master))))
	}
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	peer := info.AddRtAttr(nl.IFLA_INFO_DATA, nil).AddRtAttr(nl.VETH_INFO_PEER, nil)
	// The peer cannot come up in this request: it is registered before
	// the pair is joined, and a veth without its peer refuses to open
	// (ENOTCONN).
	nl.NewIfInfomsgChild(peer, unix.AF_UNSPEC)
	peer.AddRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(v.peer))
	peer.AddRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(v.peerNS)))
	if v.mac != nil {
		peer.AddRtAttr(unix.IFLA_ADDRESS, v.mac)
	}
	req.AddData(info)
	peerIndex := 0
	err := c.do(req, func(m syscall.NetlinkMessage) {
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			return
		}
		attrs, err := nl.ParseRouteAttr(m.Data[unix.SizeofIfInfomsg:])
		if err != nil {
			return
		}
		for _, a := range attrs {
			if a.Attr.Type == unix.IFLA_LINK && len(a.Value) == 4 {
				peerIndex = int(binary.NativeEndian.Uint32(a.Value))
			}
		}
	})
	return peerIndex, err
}

// do sends req and reads until the kernel acknowledges it, handing every
// other message that answers it to each. The error is the kernel's, with
// its explanation when it gave one.
func (c *rtnlConn) do(req *nl.NetlinkRequest, each func(syscall.NetlinkMessage)) error {
	c.seq++
	req.Seq = c.seq
	if err := unix.Sendto(c.fd, req.Serialize(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(c.buf[:n])
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != req.Seq {
				continue
			}
			if m.Header.Type == unix.NLMSG_ERROR {
				return ackError(m)
			}
			each(m)
		}
	}
}

// ackError reads an NLMSG_ERROR: nil for an acknowledgement, else the
// errno with the kernel's extended message (NLMSGERR_ATTR_MSG).
func ackError(m syscall.NetlinkMessage) error {
	if len(m.Data) < 4 {
		return errors.New("netlink: short acknowledgement")
	}
	errno := int32(binary.NativeEndian.Uint32(m.Data[:4]))
	if errno == 0 {
		return nil
	}
	err := error(syscall.Errno(-errno))
	// The request follows the errno: its header only when the kernel
	// capped it (NETLINK_CAP_ACK), then the extended attributes.
	rest := m.Data[4:]
	if m.Header.Flags&unix.NLM_F_ACK_TLVS == 0 || len(rest) < unix.SizeofNlMsghdr {
		return err
	}
	skip := unix.SizeofNlMsghdr
	if m.Header.Flags&unix.NLM_F_CAPPED == 0 {
		skip = nlmAlign(int(binary.NativeEndian.Uint32(rest[:4])))
	}
	if skip > len(rest) {
		return err
	}
	attrs, perr := nl.ParseRouteAttr(rest[skip:])
	if perr != nil {
		return err
	}
	for _, a := range attrs {
		if a.Attr.Type == unix.NLMSGERR_ATTR_MSG {
			return fmt.Errorf("%w (%s)", err, unix.ByteSliceToString(a.Value))
		}
	}
	return err
}

func nlmAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }
