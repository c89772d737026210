package bridge

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	vns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// vethSocket is a route netlink socket in the host's namespace for the one
// request the netlink library splits in three (create, look up, enslave):
// a veth pair made in a single RTM_NEWLINK, its host side up and already a
// port of the bridge, its peer named, given its MAC and MTU, and made right
// inside the sandbox. The kernel applies IFLA_MASTER while it creates the
// pair.
type vethSocket struct {
	sockets map[int]*nl.SocketHandle
}

// openVethSocket opens the socket on a thread inside the host's namespace.
func openVethSocket(hostNS string) (*vethSocket, error) {
	var s *nl.NetlinkSocket
	err := netns.Do(hostNS, func() error {
		var err error
		s, err = nl.GetNetlinkSocketAt(vns.None(), vns.None(), unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlink socket in %s: %w", hostNS, err)
	}
	return &vethSocket{sockets: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}}, nil
}

func (v *vethSocket) close() {
	for _, sh := range v.sockets {
		sh.Close()
	}
}

// vethPair describes one pair to create.
type vethPair struct {
	name     string // host side
	master   int    // the bridge's index
	peer     string // sandbox side
	peerMAC  net.HardwareAddr
	peerNSFD int
	mtu      int // 0: the kernel's default
}

// add creates the pair in one request and returns the peer's index inside
// the sandbox, read from the kernel's echo of the new link (NLM_F_ECHO,
// Linux 6.3 and later; 0 when the kernel sends none). It fails with EEXIST
// when the host side's name is taken.
func (v *vethSocket) add(p vethPair) (int, error) {
	req := &nl.NetlinkRequest{
		NlMsghdr: unix.NlMsghdr{
			Len:   uint32(unix.SizeofNlMsghdr),
			Type:  unix.RTM_NEWLINK,
			Flags: unix.NLM_F_REQUEST | unix.NLM_F_CREATE | unix.NLM_F_EXCL | unix.NLM_F_ACK | unix.NLM_F_ECHO,
		},
		Sockets: v.sockets,
	}
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(p.name)))
	if p.master > 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(p.master))))
	}
	if p.mtu > 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(p.mtu))))
	}
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	peer := data.AddRtAttr(nl.VETH_INFO_PEER, nil)
	// The peer cannot be created up: veth_open refuses (ENOTCONN) until
	// the pair is complete, which is after the peer's own configuration.
	nl.NewIfInfomsgChild(peer, unix.AF_UNSPEC)
	peer.AddRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(p.peer))
	if p.mtu > 0 {
		peer.AddRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(p.mtu)))
	}
	if p.peerMAC != nil {
		peer.AddRtAttr(unix.IFLA_ADDRESS, []byte(p.peerMAC))
	}
	peer.AddRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(p.peerNSFD)))
	req.AddData(info)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		// The host side's IFLA_LINK is its peer's index.
		if l, err := netlink.LinkDeserialize(nil, m); err == nil && l.Attrs().Name == p.name {
			return l.Attrs().ParentIndex, nil
		}
	}
	return 0, nil
}
