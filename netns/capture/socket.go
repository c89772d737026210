package capture

import (
	"encoding/binary"
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// socketBuffer lets a burst (a TCP window at full speed, ~45 frames per
// 64 KiB) wait while the reader goroutine waits for a CPU.
const socketBuffer = 8 << 20

// htons is the byte order AF_PACKET wants its protocol in.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openPacketSocket opens an AF_PACKET socket inside the namespace at ns,
// bound to ifindex, receiving every protocol in both directions, with
// kernel receive timestamps. It is opened for no protocol and bound to
// ETH_P_ALL only together with the interface, so that no packet of another
// interface is ever queued. Promiscuous mode, if asked, is a membership of
// this socket: the kernel drops it when the socket closes.
func openPacketSocket(ns string, ifindex int, promisc bool) (*os.File, error) {
	var fd int
	err := netns.Do(ns, func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	fail := func(what string, err error) (*os.File, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("packet socket: %s: %w", what, err)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBuffer) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, socketBuffer)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fail("SO_TIMESTAMPNS", err)
	}
	if promisc {
		mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return fail("promiscuous mode", err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		return fail(fmt.Sprintf("bind to ifindex %d", ifindex), err)
	}
	return os.NewFile(uintptr(fd), fmt.Sprintf("capture:%d", ifindex)), nil
}

// receiver reads packets from the socket without allocating per packet
// except for the copy it keeps.
type receiver struct {
	buf  []byte
	oob  []byte
	iov  unix.Iovec
	from unix.RawSockaddrLinklayer
	msg  unix.Msghdr
}

func newReceiver(snaplen int) *receiver {
	r := &receiver{buf: make([]byte, snaplen), oob: make([]byte, 64)}
	r.iov.Base = &r.buf[0]
	r.iov.SetLen(len(r.buf))
	r.msg.Name = (*byte)(unsafe.Pointer(&r.from))
	r.msg.Iov = &r.iov
	r.msg.Iovlen = 1
	r.msg.Control = &r.oob[0]
	return r
}

// recv reads one packet: MSG_TRUNC makes the kernel report the length on
// the wire even when only the snap length is copied.
func (r *receiver) recv(fd uintptr, ifindex int) (Packet, unix.Errno) {
	r.msg.Namelen = uint32(unsafe.Sizeof(r.from))
	r.msg.SetControllen(len(r.oob))
	n, _, errno := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&r.msg)), unix.MSG_TRUNC|unix.MSG_DONTWAIT)
	if errno != 0 {
		return Packet{}, errno
	}
	length := int(n)
	p := Packet{
		Time:     r.timestamp(),
		Data:     append([]byte(nil), r.buf[:min(length, len(r.buf))]...),
		Length:   length,
		Ifindex:  int(r.from.Ifindex),
		Outgoing: r.from.Pkttype == unix.PACKET_OUTGOING,
	}
	if p.Ifindex == 0 {
		p.Ifindex = ifindex
	}
	return p, 0
}

// timestamp is the kernel's receive time from SCM_TIMESTAMPNS, or now.
func (r *receiver) timestamp() time.Time {
	oob := r.oob[:r.msg.Controllen]
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if h.Len < unix.SizeofCmsghdr || int(h.Len) > len(oob) {
			break
		}
		data := oob[unix.SizeofCmsghdr:h.Len]
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && len(data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(data))
			nsec := int64(binary.NativeEndian.Uint64(data[8:]))
			return time.Unix(sec, nsec)
		}
		oob = oob[min(len(oob), unix.CmsgSpace(int(h.Len)-unix.SizeofCmsghdr)):]
	}
	return time.Now()
}

// drops reads and resets the kernel's count of packets it dropped for this
// socket (a full receive buffer).
func drops(fd uintptr) uint64 {
	st, err := unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0
	}
	return uint64(st.Drops)
}
