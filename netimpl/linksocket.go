package netimpl

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	vns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// LinkSocket is a route netlink socket in a host's namespace for an
// endpoint's veth pair, made so that it reads as Docker's.
//
// Docker makes both ends in the host's namespace and moves the container's
// end into the sandbox: the kernel keeps a moved link's index unless the
// target uses it, so a container's eth0 and its peer carry neighbouring
// numbers of the host's counter, the container's the lower ("11: eth0@if12"
// in the container, "12: veth70d07a7@if11" on the host), where a link born
// in a fresh namespace would be its number 2. Moving a link costs the kernel
// an RCU grace period, about 18 ms here against 0.6 ms for the whole pair
// (see MakeEndpointVeth), so the pair is made in one request instead, each
// end born where it belongs with the index it would have had: two numbers
// of the socket's own counter, which starts above the host's highest index
// and only grows, as the kernel's does. Where the kernel refuses a chosen
// index, it falls back to Docker's make-and-move.
type LinkSocket struct {
	ns      string // the namespace's path
	sockets map[int]*nl.SocketHandle

	mu   sync.Mutex
	next int // the next pair's lower index; 0 until read from the host

	// makeAndMoveOnly makes every pair Docker's way (tests).
	makeAndMoveOnly bool
}

// OpenLinkSocket opens the socket on a thread inside the namespace at ns.
func OpenLinkSocket(ns string) (*LinkSocket, error) {
	s, err := netns.Call(ns, func() (*nl.NetlinkSocket, error) {
		return nl.GetNetlinkSocketAt(vns.None(), vns.None(), unix.NETLINK_ROUTE)
	})
	if err != nil {
		return nil, fmt.Errorf("netlink socket in %s: %w", ns, err)
	}
	return &LinkSocket{ns: ns, sockets: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}}, nil
}

// OpenHost opens what a driver that makes veth pairs holds in the host's
// namespace at ns: a netlink handle, and a LinkSocket for the pairs.
func OpenHost(ns string) (*netlink.Handle, *LinkSocket, error) {
	h, err := netns.RouteHandle(ns)
	if err != nil {
		return nil, nil, err
	}
	links, err := OpenLinkSocket(ns)
	if err != nil {
		h.Close()
		return nil, nil, err
	}
	return h, links, nil
}

// Close closes the socket.
func (s *LinkSocket) Close() {
	for _, sh := range s.sockets {
		sh.Close()
	}
}

// EndpointVeth is an endpoint's pair: its near end stays on the network's
// side (a bridge's port in the host, a veth in an overlay network's
// namespace), its far end is the container's interface.
type EndpointVeth struct {
	// Name names the near end, asked once per try: a name taken makes
	// the next try ask again.
	Name func() string
	// NSFD is the near end's namespace: 0 is the socket's (the host's).
	NSFD int
	// Master is the index, in the near end's namespace, of the bridge it
	// joins (0: none). The near end comes up.
	Master int
	MTU    int // of both ends; 0: the kernel's default
	// SandboxFD, IfName and MAC are the far end's namespace, name and MAC.
	SandboxFD int
	IfName    string
	MAC       net.HardwareAddr
}

// MadeVeth is what MakeEndpointVeth made.
type MadeVeth struct {
	Name string // the near end's
	// Index is the far end's inside the sandbox; 0 when the kernel chose
	// it (the caller looks it up by name).
	Index int
	// SrcName is a name of Docker's kind ("veth" and 7 hex) for the far
	// end as it was, or would have been, in the host's namespace before
	// its move: libnetwork's srcName, which the cluster store shows.
	SrcName string
}

// pairTries bounds the tries with chosen indexes before the fallback.
const pairTries = 4

// MakeEndpointVeth makes the pair with chosen indexes in one request, or,
// where the kernel refuses them, Docker's way: both ends in the socket's
// namespace, then each moved. Nothing is left when it fails.
func (s *LinkSocket) MakeEndpointVeth(v EndpointVeth) (MadeVeth, error) {
	var err error
	for try := 0; try < pairTries && !s.makeAndMoveOnly; try++ {
		lower := s.takePair()
		p := vethPair{name: v.Name(), nsfd: v.NSFD, master: v.Master, up: true, mtu: v.MTU, index: lower + 1,
			peer: v.IfName, peerNSFD: v.SandboxFD, peerMAC: v.MAC, peerIndex: lower}
		if err = s.addVeth(p); err == nil {
			return MadeVeth{Name: p.name, Index: lower, SrcName: TempLinkName()}, nil
		}
		if !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.EBUSY) {
			break
		}
		// A name or an index is taken: someone else made links here.
		if rerr := s.readNext(); rerr != nil {
			return MadeVeth{}, rerr
		}
	}
	made, merr := s.makeAndMove(v)
	if merr != nil && err != nil {
		return MadeVeth{}, errors.Join(merr, fmt.Errorf("with chosen indexes: %w", err))
	}
	if merr != nil {
		return MadeVeth{}, merr
	}
	return made, nil
}

// makeAndMove is Docker's way: the pair made in the socket's namespace,
// then the far end moved into the sandbox and renamed there, then the near
// end, if it goes elsewhere, moved. The near end is made under its final
// name: the kernel moves a link under its own name and renames it after,
// so that a name taken in the target would leave it there half done; made
// under that name, the move itself fails and leaves it here.
func (s *LinkSocket) makeAndMove(v EndpointVeth) (MadeVeth, error) {
	for try := 0; ; try++ {
		p := vethPair{name: v.Name(), mtu: v.MTU, peer: TempLinkName(), peerMAC: v.MAC}
		if v.NSFD == 0 {
			// The near end stays: a port, up.
			p.master, p.up = v.Master, true
		}
		err := s.addVeth(p)
		if errors.Is(err, unix.EEXIST) && try < pairTries {
			continue
		}
		if err != nil {
			return MadeVeth{}, fmt.Errorf("veth %s to %s: %w", p.name, p.peer, err)
		}
		index, err := s.linkIndex(p.name)
		if err != nil {
			return MadeVeth{}, err
		}
		// Until the near end goes, deleting it here removes both, wherever
		// the far end is.
		peerIndex, err := s.linkIndex(p.peer)
		if err == nil {
			err = s.move(peerIndex, v.SandboxFD, v.IfName, 0, false)
		}
		if err != nil {
			return MadeVeth{}, errors.Join(fmt.Errorf("move %s into the sandbox as %s: %w", p.peer, v.IfName, err), s.deleteLink(index))
		}
		if v.NSFD != 0 {
			err = s.move(index, v.NSFD, p.name, v.Master, true)
		}
		if errors.Is(err, unix.EEXIST) && try < pairTries {
			if err := s.deleteLink(index); err != nil {
				return MadeVeth{}, err
			}
			continue
		}
		if err != nil {
			return MadeVeth{}, errors.Join(fmt.Errorf("move %s: %w", p.name, err), s.deleteLink(index))
		}
		return MadeVeth{Name: p.name, SrcName: p.peer}, nil
	}
}

// takePair returns the lower of the next two indexes of the socket's
// counter, reading the host's highest index first if it has none yet.
func (s *LinkSocket) takePair() int {
	s.mu.Lock()
	next := s.next
	s.mu.Unlock()
	if next == 0 {
		s.readNext()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next == 0 {
		s.next = 2 // the host could not be read: the first try tells
	}
	lower := s.next
	s.next += 2
	return lower
}

// TakeIndex returns the next index of the socket's counter for a link
// that is not a pair (a user network's bridge), reading the host's highest
// index first if it has none yet: so that a rewound counter gives the
// bridge, and the pairs after it, the numbers a fresh one did.
func (s *LinkSocket) TakeIndex() int {
	lower := s.takePair()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next == lower+2 {
		s.next = lower + 1 // the pair's upper index was not used
	}
	return lower
}

// Taken moves the counter above index, a link made with the kernel's
// choice (its counter only grows too).
func (s *LinkSocket) Taken(index int) {
	s.mu.Lock()
	s.next = max(s.next, index+1)
	s.mu.Unlock()
}

// Rewind forgets the counter: the next pair reads the host's highest index
// again, as a socket just opened does. A daemon put back to how it started
// rewinds once its endpoints are gone, so that its next container's eth0
// and peer get the numbers a fresh daemon's would.
func (s *LinkSocket) Rewind() {
	s.mu.Lock()
	s.next = 0
	s.mu.Unlock()
}

// readNext moves the counter above the highest index of the socket's
// namespace (it never goes back).
func (s *LinkSocket) readNext() error {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.Sockets = s.sockets
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return fmt.Errorf("list links: %w", err)
	}
	top := 0
	for _, m := range msgs {
		top = max(top, int(nl.DeserializeIfInfomsg(m).Index))
	}
	s.mu.Lock()
	s.next = max(s.next, top+1)
	s.mu.Unlock()
	return nil
}

// vethPair is one RTM_NEWLINK of a veth pair.
type vethPair struct {
	name   string
	nsfd   int // 0: the socket's namespace
	master int
	up     bool
	mtu    int
	index  int // 0: the kernel's choice
	// The peer is made first; it can only be given an index when the
	// first end is given one too.
	peer      string
	peerNSFD  int
	peerMAC   net.HardwareAddr
	peerIndex int
}

func (s *LinkSocket) addVeth(p vethPair) error {
	req := s.request(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(p.index)
	if p.up {
		msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	}
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(p.name)))
	if p.nsfd != 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(p.nsfd))))
	}
	if p.master > 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(p.master))))
	}
	if p.mtu > 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(p.mtu))))
	}
	// Both ends without a transmit queue, as Docker makes its pairs
	// (libnetwork's veth LinkAttrs leave TxQLen 0): `ip a` in a container
	// shows eth0 without a qlen.
	req.AddData(nl.NewRtAttr(unix.IFLA_TXQLEN, nl.Uint32Attr(0)))
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	peer := info.AddRtAttr(nl.IFLA_INFO_DATA, nil).AddRtAttr(nl.VETH_INFO_PEER, nil)
	// The peer cannot be made up: veth_open refuses (ENOTCONN) until the
	// pair is complete, which is after the peer's own configuration.
	nl.NewIfInfomsgChild(peer, unix.AF_UNSPEC).Index = int32(p.peerIndex)
	peer.AddRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(p.peer))
	peer.AddRtAttr(unix.IFLA_TXQLEN, nl.Uint32Attr(0))
	if p.mtu > 0 {
		peer.AddRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(p.mtu)))
	}
	if p.peerMAC != nil {
		peer.AddRtAttr(unix.IFLA_ADDRESS, []byte(p.peerMAC))
	}
	if p.peerNSFD != 0 {
		peer.AddRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(p.peerNSFD)))
	}
	req.AddData(info)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// move moves, renames, enslaves and brings up a link of the socket's
// namespace in one RTM_SETLINK. The kernel changes the namespace first,
// under the link's own name (EEXIST, the link staying where it was, if
// that is taken there), then renames it and applies the rest in the target
// namespace: a new name taken there fails after the move.
func (s *LinkSocket) move(index, nsfd int, name string, master int, up bool) error {
	req := s.request(unix.RTM_SETLINK, 0)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	if up {
		msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	}
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(nsfd))))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	if master > 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(master))))
	}
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// linkIndex looks a link of the socket's namespace up by name.
func (s *LinkSocket) linkIndex(name string) (int, error) {
	req := s.request(unix.RTM_GETLINK, 0)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return 0, fmt.Errorf("link %s: %w", name, err)
	}
	if len(msgs) == 0 {
		return 0, fmt.Errorf("link %s: no answer", name)
	}
	return int(nl.DeserializeIfInfomsg(msgs[0]).Index), nil
}

// deleteLink deletes a link of the socket's namespace by index (a veth's
// peer goes with it, wherever it is).
func (s *LinkSocket) deleteLink(index int) error {
	req := s.request(unix.RTM_DELLINK, 0)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// doomedGroup is the link group DeleteLinks gathers its links in: one no
// one else uses (the kernel's default group is 0).
const doomedGroup = 0x6e736c62 // "nslb"

// DeleteLinks deletes the links of the socket's namespace with the given
// indexes (a veth's peer goes with it) in one request: each is put in a
// group of its own, then the group is deleted, which the kernel does as
// one batch. It takes the links out of the namespace at once, then waits
// out its grace periods in the request (20-50 ms here): DeleteLinks
// returns once the links are out, and the request ends meanwhile on a
// socket of its own. A link already gone is skipped.
func (s *LinkSocket) DeleteLinks(indexes []int) error {
	var doomed []int
	for _, index := range indexes {
		req := s.request(unix.RTM_SETLINK, 0)
		msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
		msg.Index = int32(index)
		req.AddData(msg)
		req.AddData(nl.NewRtAttr(unix.IFLA_GROUP, nl.Uint32Attr(doomedGroup)))
		if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
			if errors.Is(err, unix.ENODEV) {
				continue
			}
			return fmt.Errorf("link %d: set group: %w", index, err)
		}
		doomed = append(doomed, index)
	}
	if len(doomed) == 0 {
		return nil
	}
	own, err := OpenLinkSocket(s.ns)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		defer own.Close()
		req := own.request(unix.RTM_DELLINK, 0)
		req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
		req.AddData(nl.NewRtAttr(unix.IFLA_GROUP, nl.Uint32Attr(doomedGroup)))
		_, err := req.Execute(unix.NETLINK_ROUTE, 0)
		if errors.Is(err, unix.ENODEV) {
			err = nil
		}
		done <- err
	}()
	deadline := time.Now().Add(linksGoneWait)
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("delete %d links: %w", len(doomed), err)
			}
			return nil
		case <-time.After(time.Millisecond):
		}
		if !s.anyLink(doomed) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("delete %d links: still there after %s", len(doomed), linksGoneWait)
		}
	}
}

// linksGoneWait bounds how long DeleteLinks waits for its links to go.
const linksGoneWait = 10 * time.Second

// anyLink says whether a link of the given indexes is in the namespace.
func (s *LinkSocket) anyLink(indexes []int) bool {
	for _, index := range indexes {
		req := s.request(unix.RTM_GETLINK, 0)
		msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
		msg.Index = int32(index)
		req.AddData(msg)
		if _, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK); !errors.Is(err, unix.ENODEV) {
			return true
		}
	}
	return false
}

func (s *LinkSocket) request(typ, flags int) *nl.NetlinkRequest {
	return &nl.NetlinkRequest{
		NlMsghdr: unix.NlMsghdr{
			Len:   uint32(unix.SizeofNlMsghdr),
			Type:  uint16(typ),
			Flags: uint16(unix.NLM_F_REQUEST | unix.NLM_F_ACK | flags),
		},
		Sockets: s.sockets,
	}
}
