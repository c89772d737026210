package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/spf13/cobra"

	"github.com/nslab/nslab/netns/capture"
)

// captureFlags are the options of `nslab capture`.
type captureFlags struct {
	write    string // -w: pcap file ("-": standard output)
	count    int    // -c: stop after this many packets (0: no limit)
	duration time.Duration
	promisc  bool
	snaplen  int
}

func newCaptureCmd(a *app) *cobra.Command {
	var f captureFlags
	cmd := &cobra.Command{
		Use:   "capture HOST[/CONTAINER] IFACE [-w FILE.pcap] [-c N] [--duration D]",
		Short: "Record the packets of an interface of a host or container",
		Long: `Record the packets an interface of a lab host (or, with HOST/CONTAINER, of a
container) sends and receives, like tcpdump -i IFACE run inside it. With -w, the
packets go to a pcap file that tcpdump -r and Wireshark read (-w - writes the
pcap to standard output, for ` + "`| tcpdump -r -`" + `); without it, one line per packet
is printed, its layers from the outside in. The capture ends after -c packets,
after --duration, or at Ctrl-C, whichever comes first; the count of packets
captured, and of those the kernel dropped, goes to standard error.`,
		Example: `  nslab capture node1 eth1 -c 10
  nslab capture node1 eth1 -w /tmp/gre.pcap --duration 10s
  nslab capture node1/cm01 eth0 -w - | tcpdump -nr -`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if f.count < 0 || f.duration < 0 || f.snaplen < 0 {
				return usageError(errors.New("capture: -c, --duration and --snaplen cannot be negative"))
			}
			host, container, err := splitTarget(argv[0])
			if err != nil {
				return usageError(err)
			}
			h, err := a.openHost(host)
			if err != nil {
				return err
			}
			ns := h.NetNS()
			if container != "" {
				ns = h.ContainerNetNS(container)
			}
			if _, err := os.Stat(ns); err != nil {
				return fmt.Errorf("lab %s: %s: %w", h.LabID(), argv[0], err)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if f.duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, f.duration)
				defer cancel()
			}
			return a.capture(ctx, ns, argv[1], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.write, "write", "w", "", "write the packets to this pcap file (- for standard output)")
	fl.IntVarP(&f.count, "count", "c", 0, "stop after this many packets")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (e.g. 10s)")
	fl.BoolVarP(&f.promisc, "promisc", "p", false, "put the interface in promiscuous mode while capturing")
	fl.IntVarP(&f.snaplen, "snaplen", "s", 0, "keep at most this many bytes of each packet (default 262144)")
	return cmd
}

// capture runs one capture until ctx ends or f.count packets were seen.
// The packets come out of the capture as a live pcap stream, which is
// written to the file packet by packet or printed one line each.
func (a *app) capture(ctx context.Context, ns, iface string, f captureFlags) error {
	c, err := capture.Start(ns, iface, capture.Options{Promisc: f.promisc, Snaplen: f.snaplen})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	streamErr := make(chan error, 1)
	go func() {
		err := c.Stream(ctx, pw)
		pw.CloseWithError(err)
		streamErr <- err
	}()
	var out io.Writer = a.stdout
	var file *os.File
	if f.write != "" && f.write != "-" {
		if file, err = os.Create(f.write); err != nil {
			cancel()
			io.Copy(io.Discard, pr)
			c.Stop()
			return fmt.Errorf("capture: %w", err)
		}
		out = file
	}
	n, copyErr := copyPackets(pr, out, f, cancel)
	// Whatever Stream still writes after the count was reached is read
	// and dropped, so that it ends.
	io.Copy(io.Discard, pr)
	sErr := <-streamErr
	_, stopErr := c.Stop()
	if file != nil {
		if err := file.Close(); err != nil && copyErr == nil {
			copyErr = fmt.Errorf("capture: %s: %w", f.write, err)
		}
	}
	fmt.Fprintf(a.stderr, "%d packets captured on %s in %s, %d dropped by the kernel\n", n, iface, ns, c.Drops())
	if sErr != nil && errors.Is(copyErr, sErr) {
		copyErr = nil // the stream's own error, reported once
	}
	return errors.Join(copyErr, sErr, stopErr)
}

// copyPackets reads the pcap stream and writes each packet to out, as
// pcap when f.write is set and as a summary line otherwise, until the
// stream ends or f.count packets were written; then it calls done. It
// returns how many it wrote.
func copyPackets(r io.Reader, out io.Writer, f captureFlags, done func()) (int, error) {
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil
		}
		return 0, fmt.Errorf("capture: %w", err)
	}
	var pw *pcapgo.Writer
	if f.write != "" {
		pw = pcapgo.NewWriterNanos(out)
		if err := pw.WriteFileHeader(pr.Snaplen(), pr.LinkType()); err != nil {
			done()
			return 0, fmt.Errorf("capture: %s: %w", f.write, err)
		}
	}
	n := 0
	for f.count == 0 || n < f.count {
		data, ci, err := pr.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			done()
			return n, fmt.Errorf("capture: %w", err)
		}
		if pw != nil {
			err = pw.WritePacket(ci, data)
		} else {
			f := capture.Summarize(capture.Packet{Data: data, Length: ci.Length, LinkType: pr.LinkType()})
			_, err = fmt.Fprintf(out, "%s %s\n", ci.Timestamp.Format("15:04:05.000000"), f)
		}
		if err != nil {
			done()
			return n, fmt.Errorf("capture: %w", err)
		}
		n++
	}
	done()
	return n, nil
}
