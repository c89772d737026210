package gre

import (
	"fmt"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// socketBuffer is the send and receive buffer of the raw socket. A burst of
// segments from one 64 KiB super-frame is ~45 packets; the receiver must hold
// several such bursts while its goroutine waits for a CPU.
const socketBuffer = 8 << 20

// openRawGRE opens a raw IPv4 socket for protocol 47 in the calling thread's
// network namespace, bound to local and connected to remote: the kernel then
// hands it only GRE packets from remote to local and sends to remote without
// an address per packet. The outer IPv4 header is the kernel's (no
// IP_HDRINCL), with DF where the packet fits the path MTU and local
// fragmentation where it does not (IP_PMTUDISC_WANT), as the kernel's gretap
// does by default. On receive the IP header is included, as for every IPv4
// raw socket.
func openRawGRE(local, remote netip.Addr) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, IPProtoGRE)
	if err != nil {
		return nil, fmt.Errorf("raw socket for protocol %d: %w", IPProtoGRE, err)
	}
	fail := func(what string, err error) (*os.File, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("raw socket: %s: %w", what, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: local.As4()}); err != nil {
		return fail("bind "+local.String(), err)
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: remote.As4()}); err != nil {
		return fail("connect "+remote.String(), err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_WANT); err != nil {
		return fail("IP_MTU_DISCOVER", err)
	}
	for _, o := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
		// The FORCE variants pass net.core.[rw]mem_max; without
		// CAP_NET_ADMIN fall back to what the limit allows.
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, o[0], socketBuffer) != nil {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, o[1], socketBuffer)
		}
	}
	return os.NewFile(uintptr(fd), fmt.Sprintf("gre:%s->%s", local, remote)), nil
}

// The batch syscalls x/sys/unix does not wrap. They run in callbacks of
// syscall.RawConn, so the fd cannot be closed underneath them.

func sendmmsg(fd uintptr, msgs []unix.Mmsghdr) (int, unix.Errno) {
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
	return int(n), e
}

func recvmmsg(fd uintptr, msgs []unix.Mmsghdr) (int, unix.Errno) {
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
	return int(n), e
}

func writev(fd uintptr, iov []unix.Iovec) (int, unix.Errno) {
	n, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	return int(n), e
}
