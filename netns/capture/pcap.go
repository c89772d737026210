package capture

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// WritePcap writes the packets captured so far (all of them once stopped,
// minus those Stream wrote) as a pcap file with nanosecond timestamps.
func (c *Capture) WritePcap(w io.Writer) error {
	return WritePcap(w, c.linkType, c.snaplen, c.Packets())
}

// WritePcap writes pkts as a pcap file of link type lt and snap length
// snaplen (0: MaxSnaplen).
func WritePcap(w io.Writer, lt layers.LinkType, snaplen int, pkts []Packet) error {
	bw := bufio.NewWriter(w)
	pw, err := newPcapWriter(bw, lt, snaplen)
	if err != nil {
		return err
	}
	for _, p := range pkts {
		if err := writePacket(pw, p); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("pcap: %w", err)
	}
	return nil
}

func newPcapWriter(w io.Writer, lt layers.LinkType, snaplen int) (*pcapgo.Writer, error) {
	if snaplen <= 0 {
		snaplen = MaxSnaplen
	}
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(uint32(snaplen), lt); err != nil {
		return nil, fmt.Errorf("pcap header: %w", err)
	}
	return pw, nil
}

func writePacket(pw *pcapgo.Writer, p Packet) error {
	ci := gopacket.CaptureInfo{
		Timestamp:      p.Time,
		CaptureLength:  len(p.Data),
		Length:         max(p.Length, len(p.Data)),
		InterfaceIndex: p.Ifindex,
	}
	if err := pw.WritePacket(ci, p.Data); err != nil {
		return fmt.Errorf("pcap: %w", err)
	}
	return nil
}

// Stream writes a pcap file to w as packets arrive: the header at once,
// then every packet, flushed batch by batch, so `tcpdump -r -` or a file
// being read follows the capture live. Packets it writes are not kept
// (Stop no longer returns them). It returns nil when ctx ends or Stop is
// called, after writing everything captured until then, and the error
// otherwise (a write failed, the capture ended on an error).
func (c *Capture) Stream(ctx context.Context, w io.Writer) error {
	bw := bufio.NewWriter(w)
	pw, err := newPcapWriter(bw, c.linkType, c.snaplen)
	if err != nil {
		return err
	}
	var readerEnded, ctxEnded bool
	for {
		c.mu.Lock()
		pkts := c.pkts
		c.pkts = nil
		capErr := c.err
		c.mu.Unlock()
		for _, p := range pkts {
			if err := writePacket(pw, p); err != nil {
				return err
			}
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("pcap: %w", err)
		}
		switch {
		case readerEnded:
			return capErr
		case ctxEnded:
			return nil
		}
		// One more round after the end takes the last packets.
		select {
		case <-c.arrived:
		case <-c.done:
			readerEnded = true
		case <-ctx.Done():
			ctxEnded = true
		}
	}
}

// Decode parses p with gopacket from its link layer up.
func Decode(p Packet) gopacket.Packet {
	first := gopacket.Decoder(layers.LayerTypeEthernet)
	if p.LinkType == layers.LinkTypeRaw {
		first = layers.LayerTypeIPv4
		if len(p.Data) > 0 && p.Data[0]>>4 == 6 {
			first = layers.LayerTypeIPv6
		}
	}
	pkt := gopacket.NewPacket(p.Data, first, gopacket.Default)
	md := pkt.Metadata()
	md.Timestamp = p.Time
	md.CaptureLength = len(p.Data)
	md.Length = max(p.Length, len(p.Data))
	md.InterfaceIndex = p.Ifindex
	return pkt
}
