package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// DialContext connects to address ("ip:port", an IP literal) over network
// ("tcp", "tcp4", "tcp6", "udp", "udp4", "udp6") from inside the namespace
// at ns. Only the socket is created inside the namespace; the connect runs
// on the caller's goroutine, bounded by ctx.
func DialContext(ctx context.Context, ns, network, address string) (net.Conn, error) {
	c, err := dial(ctx, ns, network, address)
	if err != nil {
		var p *permanentError
		if errors.As(err, &p) {
			err = p.err
		}
		return nil, fmt.Errorf("dial %s %s from %s: %w", network, address, ns, err)
	}
	return c, nil
}

// dial is DialContext keeping the permanent mark, for the retry loops.
func dial(ctx context.Context, ns, network, address string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, permanent(fmt.Errorf("address must be ip:port (names would be resolved outside the lab): %w", err))
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	var sotype int
	switch network {
	case "tcp", "tcp4", "tcp6":
		sotype = unix.SOCK_STREAM
	case "udp", "udp4", "udp6":
		sotype = unix.SOCK_DGRAM
	default:
		return nil, permanent(fmt.Errorf("unsupported network %q", network))
	}
	is6 := ap.Addr().Is6()
	if (is6 && network[len(network)-1] == '4') || (!is6 && network[len(network)-1] == '6') {
		return nil, permanent(fmt.Errorf("address %s does not fit network %s", address, network))
	}
	sa, err := sockaddr(ns, ap)
	if err != nil {
		return nil, err
	}
	family := unix.AF_INET
	if is6 {
		family = unix.AF_INET6
	}
	fd, err := socketIn(ns, family, sotype, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "probe-"+network)
	defer f.Close() // net.FileConn keeps its own duplicate
	if err := connect(ctx, f, fd, sa); err != nil {
		return nil, err
	}
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("wrap socket: %w", err)
	}
	return c, nil
}

// socketIn creates a non-blocking socket inside the namespace at ns. It is
// the only step that needs the namespace: everything done with the socket
// afterwards stays in the namespace it was born in.
func socketIn(ns string, family, sotype, proto int) (int, error) {
	fd, err := netns.Call(ns, func() (int, error) {
		fd, err := unix.Socket(family, sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		return fd, os.NewSyscallError("socket", err)
	})
	if err != nil {
		return -1, permanent(err)
	}
	return fd, nil
}

// aLongTimeAgo is a deadline in the past, to wake a blocked call at once.
var aLongTimeAgo = time.Unix(1, 0)

// connect starts a non-blocking connect on fd (owned by f, which is
// registered with the runtime's poller) and waits until it completes, fails
// or ctx ends, the way the net package's own connect does.
func connect(ctx context.Context, f *os.File, fd int, sa unix.Sockaddr) error {
	err := unix.Connect(fd, sa)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINPROGRESS), errors.Is(err, unix.EINTR), errors.Is(err, unix.EALREADY):
	default:
		return os.NewSyscallError("connect", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		f.SetWriteDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.Canceled) {
			f.SetWriteDeadline(aLongTimeAgo)
		}
	})
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var cerr error
	werr := rc.Write(func(fd uintptr) bool {
		soerr, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			cerr = os.NewSyscallError("getsockopt", err)
			return true
		}
		switch e := unix.Errno(soerr); e {
		case 0:
			// Writable without a pending error can still be a wake-up
			// before the handshake finished: only a peer name proves it.
			_, err := unix.Getpeername(int(fd))
			return err == nil
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
			return false
		default:
			cerr = os.NewSyscallError("connect", e)
			return true
		}
	})
	if cerr != nil {
		return cerr
	}
	if werr != nil {
		return fmt.Errorf("connect: %w", tryErr(ctx, werr))
	}
	return nil
}

// closeOnCancel closes c when ctx is cancelled, to wake a blocked call. A
// ctx that times out is left to the deadline set on c, so a try that ran
// out of time always reads "i/o timeout".
func closeOnCancel(ctx context.Context, c io.Closer) (stop func() bool) {
	return context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.Canceled) {
			c.Close()
		}
	})
}

// tryErr is why an I/O call of a try failed: the cancellation that woke
// it, or its own error.
func tryErr(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	return err
}

// sockaddr converts ap for connect(2). A zone names an interface of the
// namespace at ns, so it is looked up there, not in the caller's namespace.
func sockaddr(ns string, ap netip.AddrPort) (unix.Sockaddr, error) {
	a := ap.Addr()
	if a.Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}, nil
	}
	idx, err := zoneIndex(ns, a.Zone())
	if err != nil {
		return nil, err
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16(), ZoneId: uint32(idx)}, nil
}

// zoneIndex returns the interface index of an IPv6 zone inside ns: the
// number itself, or the index of the named link there (0 when no zone).
func zoneIndex(ns, zone string) (int, error) {
	if zone == "" {
		return 0, nil
	}
	if n, err := strconv.Atoi(zone); err == nil {
		return n, nil
	}
	h, err := netns.Handle(ns)
	if err != nil {
		return 0, permanent(err)
	}
	defer h.Close()
	l, err := h.LinkByName(zone)
	if err != nil {
		return 0, permanent(fmt.Errorf("zone %s: %w", zone, err))
	}
	return l.Attrs().Index, nil
}

// checkListenAddr accepts "host:port" where host is empty or an IP literal,
// so that listening never triggers a name lookup.
func checkListenAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Errorf("listen address %q: host must be an IP literal", addr)
	}
	return nil
}

// ListenTCP opens a TCP listener inside the namespace at ns. addr is
// "ip:port" or ":port" (port 0 picks one; see Addr). The caller accepts and
// closes it; ServeTCPEcho is a ready server on top of it. A TCP probe's
// connect succeeds against it even if nobody accepts, until the backlog fills.
func ListenTCP(ns, addr string) (net.Listener, error) { return listenIn(ns, "tcp", addr, net.Listen) }

// ListenUDP opens a UDP socket bound to addr inside the namespace at ns.
func ListenUDP(ns, addr string) (*net.UDPConn, error) {
	pc, err := listenIn(ns, "udp", addr, net.ListenPacket)
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// listenIn checks addr, then opens the socket with open (net.Listen or
// net.ListenPacket) from a thread inside ns: a socket belongs to the
// namespace of the thread that creates it.
func listenIn[S any](ns, network, addr string, open func(network, addr string) (S, error)) (S, error) {
	if err := checkListenAddr(addr); err != nil {
		var none S
		return none, fmt.Errorf("listen %s in %s: %w", network, ns, err)
	}
	s, err := netns.Call(ns, func() (S, error) { return open(network, addr) })
	if err != nil {
		return s, fmt.Errorf("listen %s %s in %s: %w", network, addr, ns, err)
	}
	return s, nil
}
