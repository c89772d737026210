// Package capture records the packets of one interface of a lab namespace,
// like tcpdump -i IFACE run inside it, and writes them as pcap files that
// tcpdump and Wireshark read. It is how assertions look at the wire: an
// AF_PACKET socket opened inside the namespace sees every frame the
// interface sends and receives.
package capture

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// Options tune a capture. The zero value captures whole packets without
// promiscuous mode.
type Options struct {
	// Snaplen is the most bytes kept of each packet (default and maximum
	// 262144, tcpdump's).
	Snaplen int
	// Promisc puts the interface in promiscuous mode while capturing.
	Promisc bool
}

// MaxSnaplen is tcpdump's default and largest snap length.
const MaxSnaplen = 262144

// Packet is one captured frame.
type Packet struct {
	Time     time.Time // kernel receive (or send) time
	Data     []byte    // the frame, at most Snaplen bytes
	Length   int       // the frame's length on the wire
	Ifindex  int       // interface index in the captured namespace
	Outgoing bool      // sent by the interface rather than received
	// LinkType is the link-layer header type of Data: Ethernet for
	// Ethernet links and loopback, Raw (IP first) for L3 devices such as
	// a TUN.
	LinkType layers.LinkType
}

// Capture is a running capture on one interface.
type Capture struct {
	ns, iface string
	ifindex   int
	snaplen   int
	linkType  layers.LinkType

	f  *os.File
	rc syscall.RawConn

	mu      sync.Mutex
	pkts    []Packet
	arrived chan struct{} // signalled when pkts grows
	done    chan struct{} // closed when the reader has ended
	err     error         // why the reader ended early, if it did
	drops   uint64

	stopOnce sync.Once
}

// Start captures on iface inside the namespace ns (a /run/netns name or a
// path such as /proc/PID/ns/net) until Stop.
func Start(ns, iface string, opts Options) (*Capture, error) {
	if !filepath.IsAbs(ns) {
		ns = netns.Path(ns)
	}
	what := fmt.Sprintf("capture %s in %s", iface, ns)
	if opts.Snaplen < 0 {
		return nil, fmt.Errorf("%s: negative snap length %d", what, opts.Snaplen)
	}
	if opts.Snaplen == 0 || opts.Snaplen > MaxSnaplen {
		opts.Snaplen = MaxSnaplen
	}
	ifindex, lt, err := lookupLink(ns, iface)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	f, err := openPacketSocket(ns, ifindex, opts.Promisc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	c := &Capture{
		ns: ns, iface: iface, ifindex: ifindex, snaplen: opts.Snaplen, linkType: lt,
		f: f, rc: rc,
		arrived: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	go c.read()
	return c, nil
}

// lookupLink finds iface in ns and the pcap link type of its frames.
func lookupLink(ns, iface string) (int, layers.LinkType, error) {
	h, err := netns.Handle(ns)
	if err != nil {
		return 0, 0, err
	}
	defer h.Close()
	l, err := h.LinkByName(iface)
	if err != nil {
		return 0, 0, fmt.Errorf("link %s: %w", iface, err)
	}
	switch t := l.Attrs().EncapType; t {
	case "ether", "loopback": // the loopback has an all-zero Ethernet header
		return l.Attrs().Index, layers.LinkTypeEthernet, nil
	case "none": // TUN and other L3 devices: the IP header comes first
		return l.Attrs().Index, layers.LinkTypeRaw, nil
	default:
		return 0, 0, fmt.Errorf("link %s: link type %q not supported", iface, t)
	}
}

// read receives packets until Stop. When Stop sets the read deadline it
// takes what is still queued in the socket, so a capture stopped right
// after the traffic it wants to see still has it.
func (c *Capture) read() {
	defer close(c.done)
	r := newReceiver(c.snaplen)
	var batch []Packet
	var fatal unix.Errno
	// take reads until the socket is empty; it returns whether to stop.
	take := func(fd uintptr) bool {
		errs := 0 // errors in a row
		for {
			p, errno := r.recv(fd, c.ifindex)
			switch errno {
			case 0:
				errs = 0
				p.LinkType = c.linkType
				batch = append(batch, p)
				if len(batch) == 256 {
					c.add(batch)
					batch = batch[:0]
				}
				continue
			case unix.EINTR:
				continue
			case unix.EAGAIN:
			default:
				// ENETDOWN when the interface goes down or away. The
				// socket reports it once, ahead of the packets still
				// queued: read on to keep them.
				fatal = errno
				if errs++; errs < 2 {
					continue
				}
			}
			c.add(batch)
			batch = batch[:0]
			return fatal != 0
		}
	}
	for {
		err := c.rc.Read(take)
		if fatal == unix.ENETDOWN && err == nil && c.linkExists() {
			// Only down: the kernel hooks the socket in again when the
			// link comes up, so a capture outlives a link flap.
			fatal = 0
			continue
		}
		if fatal == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			// Stop: one last look at what is queued.
			c.rc.Control(func(fd uintptr) { take(fd); c.addDrops(drops(fd)) })
			return
		}
		if fatal != 0 || err != nil {
			c.mu.Lock()
			if fatal != 0 {
				c.err = fmt.Errorf("capture %s in %s: receive: %w", c.iface, c.ns, fatal)
			} else {
				c.err = fmt.Errorf("capture %s in %s: receive: %w", c.iface, c.ns, err)
			}
			c.mu.Unlock()
			c.rc.Control(func(fd uintptr) { c.addDrops(drops(fd)) })
			return
		}
	}
}

// linkExists says whether the captured interface is still there.
func (c *Capture) linkExists() bool {
	h, err := netns.Handle(c.ns)
	if err != nil {
		return false
	}
	defer h.Close()
	_, err = h.LinkByIndex(c.ifindex)
	return err == nil
}

func (c *Capture) add(batch []Packet) {
	if len(batch) == 0 {
		return
	}
	c.mu.Lock()
	c.pkts = append(c.pkts, batch...)
	c.mu.Unlock()
	select {
	case c.arrived <- struct{}{}:
	default:
	}
}

func (c *Capture) addDrops(n uint64) {
	c.mu.Lock()
	c.drops += n
	c.mu.Unlock()
}

// Stop ends the capture and returns the packets not already written by
// Stream, in arrival order. It returns the error that ended the capture
// early, if one did (the interface went away), with the packets seen until
// then.
func (c *Capture) Stop() ([]Packet, error) {
	c.stopOnce.Do(func() {
		c.f.SetReadDeadline(time.Unix(1, 0)) // wakes the reader, which drains and ends
		<-c.done
		c.f.Close()
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Packet(nil), c.pkts...), c.err
}

// Drops is how many packets the kernel dropped because the capture's
// buffer was full; known once the capture has stopped.
func (c *Capture) Drops() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.drops
}

// Packets returns a copy of the packets captured so far and not written by
// Stream.
func (c *Capture) Packets() []Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Packet(nil), c.pkts...)
}

// LinkType is the pcap link type of the captured interface.
func (c *Capture) LinkType() layers.LinkType { return c.linkType }
