package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// copyPackets stops at -c: a pcap file of exactly that many packets, or
// as many summary lines, and the capture is told to end.
func TestCopyPacketsCount(t *testing.T) {
	var in bytes.Buffer
	w := pcapgo.NewWriterNanos(&in)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	// Any frame will do: copyPackets counts them (the summary of each is
	// capture.Summarize's, tested in netns/capture).
	f := make([]byte, 60)
	for i := range 5 {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(100, int64(i)), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, write := range []string{"out.pcap", ""} {
		var out bytes.Buffer
		ended := false
		n, err := copyPackets(bytes.NewReader(in.Bytes()), &out, captureFlags{write: write, count: 3}, func() { ended = true })
		if err != nil || n != 3 || !ended {
			t.Fatalf("write %q: %d packets, %v, ended %v", write, n, err, ended)
		}
		if write == "" {
			if lines := strings.Count(out.String(), "\n"); lines != 3 {
				t.Errorf("%d summary lines, want 3:\n%s", lines, out.String())
			}
			continue
		}
		r, err := pcapgo.NewReader(&out)
		if err != nil {
			t.Fatal(err)
		}
		m := 0
		for {
			if _, _, err := r.ReadPacketData(); err != nil {
				break
			}
			m++
		}
		if m != 3 {
			t.Errorf("the pcap holds %d packets, want 3", m)
		}
	}
}
