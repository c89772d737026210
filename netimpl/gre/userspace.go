package gre

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/undo"
)

// userTunnel is gretap in userspace: a TAP device named cfg.Name whose
// frames go out through a raw GRE socket to Remote, and GRE packets from
// Remote written back into the TAP. Two goroutines move the packets, one per
// direction; both run inside callbacks of the files' RawConn, so Close can
// wake them and no fd is used after it is closed.
type userTunnel struct {
	cfg    Config
	mtu    int
	hdr    header
	remote [4]byte

	h      *netlink.Handle
	tap    *os.File
	sock   *os.File
	tapRC  syscall.RawConn
	sockRC syscall.RawConn

	tx *txPath
	rx *rxPath

	closing   atomic.Bool
	wg        sync.WaitGroup
	loopErr   [2]error // per loop, set before it ends
	closeOnce sync.Once
	closeErr  error

	st counters
}

type counters struct {
	txPackets, txBytes, txErrors atomic.Uint64
	rxPackets, rxBytes, rxErrors atomic.Uint64
	rxDrop                       [dropChecksum + 1]atomic.Uint64
}

// CreateUserspace makes the userspace gretap in the calling thread's
// network namespace: call it from inside netns.Do. The TAP device and the
// socket stay in that namespace; the goroutines moving packets may run on
// any thread.
func CreateUserspace(cfg Config) (Tunnel, error) {
	return create(cfg, "userspace", newUserTunnel)
}

func newUserTunnel(cfg Config) (t *userTunnel, err error) {
	var undo undo.Steps
	defer undo.OnError(&err)
	h, err := openHandle()
	if err != nil {
		return nil, err
	}
	undo.Add(h.Close)
	if err := checkFree(h, cfg.Name); err != nil {
		return nil, err
	}
	if cfg.Bridge != "" {
		if err := checkBridge(h, cfg.Bridge); err != nil {
			return nil, err
		}
	}
	mtu, err := innerMTU(h, &cfg)
	if err != nil {
		return nil, err
	}
	sock, err := openRawGRE(cfg.Local, cfg.Remote)
	if err != nil {
		return nil, err
	}
	undo.Add(func() { sock.Close() })
	tap, err := openTAP(cfg.Name)
	if err != nil {
		return nil, err
	}
	// Closing the TAP's only queue unregisters the device; removeLink
	// covers the case where the kernel kept it.
	undo.Add(func() { tap.Close(); netns.DeleteLink(h, cfg.Name) })
	l, err := h.LinkByName(cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("link %s after TUNSETIFF: %w", cfg.Name, err)
	}
	if err := h.LinkSetMTU(l, mtu); err != nil {
		return nil, fmt.Errorf("link %s: mtu %d: %w", cfg.Name, mtu, err)
	}
	if err := attach(h, cfg.Name, cfg.Bridge); err != nil {
		return nil, err
	}
	t = &userTunnel{cfg: cfg, mtu: mtu, h: h, tap: tap, sock: sock, remote: cfg.Remote.As4()}
	t.hdr = header{checksum: cfg.Checksum}
	if cfg.Key != nil {
		t.hdr.key, t.hdr.hasKey = *cfg.Key, true
	}
	if t.tapRC, err = tap.SyscallConn(); err != nil {
		return nil, fmt.Errorf("tap %s: %w", cfg.Name, err)
	}
	if t.sockRC, err = sock.SyscallConn(); err != nil {
		return nil, fmt.Errorf("raw socket: %w", err)
	}
	t.tx = newTxPath(t)
	t.rx = newRxPath(t)
	t.wg.Add(2)
	go t.txLoop()
	go t.rxLoop()
	return t, nil
}

func (t *userTunnel) Name() string { return t.cfg.Name }
func (t *userTunnel) Impl() string { return ImplUserspace }

func (t *userTunnel) Stats() Stats {
	s := Stats{
		TxPackets:       t.st.txPackets.Load(),
		TxBytes:         t.st.txBytes.Load(),
		TxErrors:        t.st.txErrors.Load(),
		RxPackets:       t.st.rxPackets.Load(),
		RxBytes:         t.st.rxBytes.Load(),
		RxWrongSource:   t.st.rxDrop[dropWrongSource].Load(),
		RxBadHeader:     t.st.rxDrop[dropBadHeader].Load(),
		RxWrongProtocol: t.st.rxDrop[dropWrongProtocol].Load(),
		RxKeyMismatch:   t.st.rxDrop[dropKeyMismatch].Load(),
		RxChecksum:      t.st.rxDrop[dropChecksum].Load(),
	}
	s.RxErrors = t.st.rxErrors.Load() + s.RxWrongSource + s.RxBadHeader + s.RxWrongProtocol + s.RxKeyMismatch + s.RxChecksum
	return s
}

// Close stops both loops, closes the socket and the TAP (which removes the
// link) and makes sure the link is gone. It returns the error that ended a
// loop early, if one did.
func (t *userTunnel) Close() error {
	t.closeOnce.Do(func() {
		t.closing.Store(true)
		// Closing the files wakes loops parked in the poller; a loop inside
		// a callback sees closing at its next packet.
		errs := []error{t.sock.Close(), t.tap.Close()}
		t.wg.Wait()
		errs = append(errs, t.loopErr[0], t.loopErr[1], netns.DeleteLink(t.h, t.cfg.Name))
		t.h.Close()
		if err := errors.Join(errs...); err != nil {
			t.closeErr = fmt.Errorf("gre %s: close: %w", t.cfg.Name, err)
		}
	})
	return t.closeErr
}

// txLoop moves frames from the TAP to the raw socket. It reads until the
// TAP is empty, batching what it read, and sends the batch before it waits.
func (t *userTunnel) txLoop() {
	defer t.wg.Done()
	buf := make([]byte, vnetHdrLen+maxIPLen+ethHeaderLen+4)
	var vh vnetHdr
	t.readUntilClosed(0, "tap", t.tapRC, func(fd uintptr) (bool, error) {
		for !t.closing.Load() {
			n, err := unix.Read(int(fd), buf)
			switch {
			case err == unix.EAGAIN:
				t.tx.flush()
				return false, nil
			case err == unix.EINTR:
			case err != nil:
				return true, err
			case n < vnetHdrLen+ethHeaderLen:
				t.st.txErrors.Add(1)
			default:
				vh.decode(buf)
				if emitFrame(buf[vnetHdrLen:n], &vh, t.tx) != nil {
					t.st.txErrors.Add(1)
				}
			}
		}
		return true, nil
	})
}

// rxLoop moves GRE packets from the raw socket to the TAP, a batch per
// recvmmsg.
func (t *userTunnel) rxLoop() {
	defer t.wg.Done()
	t.readUntilClosed(1, "socket", t.sockRC, func(fd uintptr) (bool, error) {
		for !t.closing.Load() {
			n, errno := recvmmsg(fd, t.rx.msgs)
			switch errno {
			case 0:
				t.rx.deliver(n)
			case unix.EAGAIN:
				return false, nil
			default:
				// EINTR, or an ICMP error about an earlier packet (the
				// peer's "protocol unreachable" before its tunnel exists,
				// "host unreachable"), which a connected socket reports
				// once: it says nothing about the packets still queued.
			}
		}
		return true, nil
	})
}

// readUntilClosed runs rc.Read with read until the tunnel closes: read
// returns false to wait for the descriptor to be readable again, true when
// it is done, with the error that ended it if any. An error before the
// tunnel closes ends the loop and is kept as loop i's, what it read from.
func (t *userTunnel) readUntilClosed(i int, what string, rc syscall.RawConn, read func(fd uintptr) (bool, error)) {
	var readErr error
	for !t.closing.Load() {
		err := rc.Read(func(fd uintptr) bool {
			var done bool
			done, readErr = read(fd)
			return done
		})
		if err == nil {
			err = readErr
		}
		if err != nil {
			if !t.closing.Load() {
				t.loopErr[i] = fmt.Errorf("%s read: %w", what, err)
			}
			return
		}
	}
}
