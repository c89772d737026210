package gre

import (
	"golang.org/x/sys/unix"
)

// maxRxBatch is how many packets one recvmmsg takes at most.
const maxRxBatch = 64

// rxPath receives batches from the raw socket, checks and strips the outer
// headers and hands the inner frames to the coalescer, which writes them to
// the TAP. It is used by rxLoop only.
type rxPath struct {
	t    *userTunnel
	bufs [][]byte
	iovs []unix.Iovec
	msgs []unix.Mmsghdr
	co   *coalescer

	// Arguments and results of write (see txPath.sendFn).
	writeFn func(fd uintptr) bool
	wiov    []unix.Iovec
	werrno  unix.Errno
}

// rxBufSize is one receive buffer: the largest outer IPv4 header and GRE
// header, and an inner frame of the link's MTU — or of 1500 bytes when the
// MTU is smaller, since the kernel's gretap, too, delivers frames bigger than
// its MTU when the peer sends them. Anything bigger is truncated and dropped.
func rxBufSize(mtu int) int {
	n := 60 + maxGREHeaderLen + max(mtu, 1500) + ethHeaderLen + 4
	return (n + 63) &^ 63
}

func newRxPath(t *userTunnel) *rxPath {
	p := &rxPath{
		t:    t,
		bufs: make([][]byte, maxRxBatch),
		iovs: make([]unix.Iovec, maxRxBatch),
		msgs: make([]unix.Mmsghdr, maxRxBatch),
		wiov: make([]unix.Iovec, maxGroupSeg+1),
	}
	size := rxBufSize(t.mtu)
	mem := make([]byte, size*maxRxBatch)
	for i := range p.msgs {
		p.bufs[i] = mem[i*size : (i+1)*size : (i+1)*size]
		p.iovs[i].Base = &p.bufs[i][0]
		p.iovs[i].SetLen(size)
		p.msgs[i].Hdr.Iov = &p.iovs[i]
		p.msgs[i].Hdr.Iovlen = 1
	}
	p.co = newCoalescer(p)
	p.writeFn = p.write
	return p
}

// deliver handles the first n packets of the batch just received.
func (p *rxPath) deliver(n int) {
	drops := [dropChecksum + 1]uint64{}
	for i := range n {
		m := &p.msgs[i]
		if m.Hdr.Flags&unix.MSG_TRUNC != 0 {
			drops[dropBadHeader]++
			continue
		}
		pkt := p.bufs[i][:m.Len]
		start, end, why := parseIPv4(pkt, p.t.remote)
		if why != dropNone {
			drops[why]++
			continue
		}
		off, why := p.t.hdr.parse(pkt[start:end])
		if why != dropNone {
			drops[why]++
			continue
		}
		// The inner frame starts at least 20+4 bytes into the buffer,
		// room for the vnet header the TAP wants before it.
		p.co.add(rxFrame{buf: pkt, start: start + off, end: end})
	}
	p.co.flush()
	st := &p.t.st
	for why, k := range drops {
		if k > 0 {
			st.rxDrop[why].Add(k)
		}
	}
	if p.co.frames > 0 {
		st.rxPackets.Add(p.co.frames)
		st.rxBytes.Add(p.co.bytes)
		p.co.frames, p.co.bytes = 0, 0
	}
	if p.co.failed > 0 {
		st.rxErrors.Add(p.co.failed)
		p.co.failed = 0
	}
}

// writev writes one frame (vnet header first) to the TAP. A frame the TAP
// refuses is dropped: there is nobody to tell.
func (p *rxPath) writev(parts [][]byte) bool {
	p.wiov = p.wiov[:len(parts)]
	for i, b := range parts {
		p.wiov[i].Base = &b[0]
		p.wiov[i].SetLen(len(b))
	}
	p.werrno = 0
	if err := p.t.tapRC.Write(p.writeFn); err != nil {
		return false
	}
	return p.werrno == 0
}

func (p *rxPath) write(fd uintptr) bool {
	for {
		_, p.werrno = writev(fd, p.wiov)
		if p.werrno != unix.EINTR {
			return p.werrno != unix.EAGAIN
		}
	}
}
