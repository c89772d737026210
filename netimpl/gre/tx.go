package gre

import (
	"golang.org/x/sys/unix"
)

const (
	// maxTxBatch is how many GRE packets one sendmmsg carries: a little
	// more than what two 64 KiB super-frames become at a 1500-byte MTU.
	maxTxBatch = 128
	// txArena holds the packets of one batch back to back; it fits the
	// biggest frame the TAP can hand over, twice.
	txArena = 256 << 10
)

// txPath collects encapsulated frames and sends them with one sendmmsg.
// It is used by txLoop only.
type txPath struct {
	t      *userTunnel
	greLen int
	arena  []byte
	used   int
	pkts   [][]byte // GRE packets of the batch, inside arena
	msgs   []unix.Mmsghdr
	iovs   []unix.Iovec

	// Arguments and results of send, a method value made once so the
	// RawConn callback costs no allocation per batch.
	sendFn  func(fd uintptr) bool
	pending []unix.Mmsghdr
	sent    int
	errno   unix.Errno
}

func newTxPath(t *userTunnel) *txPath {
	p := &txPath{
		t:      t,
		greLen: t.hdr.len(),
		arena:  make([]byte, txArena),
		pkts:   make([][]byte, 0, maxTxBatch),
		msgs:   make([]unix.Mmsghdr, maxTxBatch),
		iovs:   make([]unix.Iovec, maxTxBatch),
	}
	for i := range p.msgs {
		p.msgs[i].Hdr.Iov = &p.iovs[i]
		p.msgs[i].Hdr.Iovlen = 1
	}
	p.sendFn = p.send
	return p
}

// frame reserves room for one inner frame of n bytes behind its GRE
// header, sending the batch first when it is full.
func (p *txPath) frame(n int) []byte {
	need := p.greLen + n
	if need > len(p.arena) {
		return nil
	}
	if len(p.pkts) == maxTxBatch || p.used+need > len(p.arena) {
		p.flush()
	}
	pkt := p.arena[p.used : p.used+need : p.used+need]
	p.used += need
	p.pkts = append(p.pkts, pkt)
	return pkt[p.greLen:]
}

// flush puts the GRE headers on the batch (the checksum covers the frame,
// so only now) and sends it. A packet the kernel refuses (no route, no
// buffer) is counted and skipped; the rest still go.
func (p *txPath) flush() {
	if len(p.pkts) == 0 {
		return
	}
	for i, pkt := range p.pkts {
		p.t.hdr.put(pkt)
		p.iovs[i].Base = &pkt[0]
		p.iovs[i].SetLen(len(pkt))
	}
	var packets, bytes, failed uint64
	retried := false
	for i := 0; i < len(p.pkts); {
		p.pending = p.msgs[i:len(p.pkts)]
		p.sent, p.errno = 0, 0
		if err := p.t.sockRC.Write(p.sendFn); err != nil {
			failed += uint64(len(p.pending)) // socket closed
			break
		}
		switch p.errno {
		case 0:
			for _, pkt := range p.pkts[i : i+p.sent] {
				bytes += uint64(len(pkt) - p.greLen)
			}
			packets += uint64(p.sent)
			i += p.sent
			retried = false
		case unix.EINTR:
		default:
			// Either the socket reported a pending error from an ICMP
			// message about an earlier packet (the peer's "protocol
			// unreachable" before its tunnel exists) and did not send
			// this one, or this packet cannot be sent (no route, too
			// big). One retry tells them apart; then drop it.
			if !retried {
				retried = true
				continue
			}
			failed++
			i++
			retried = false
		}
	}
	p.t.st.txPackets.Add(packets)
	p.t.st.txBytes.Add(bytes)
	p.t.st.txErrors.Add(failed)
	p.pkts = p.pkts[:0]
	p.used = 0
}

func (p *txPath) send(fd uintptr) bool {
	p.sent, p.errno = sendmmsg(fd, p.pending)
	return p.errno != unix.EAGAIN
}
