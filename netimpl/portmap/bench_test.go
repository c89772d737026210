package portmap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/nslab/nslab/netns/probe"
)

// BenchmarkProxyThroughput compares TCP throughput from the host to a
// server in the container directly (over the veth) and through the
// userland proxy (127.0.0.1:HostPort, then the veth). Each iteration sends
// 64 MiB each way round, so `-benchtime 1x` is meaningful. Informational:
// it reports direct-MB/s, proxy-MB/s and their ratio.
func BenchmarkProxyThroughput(b *testing.B) {
	const size = 64 << 20
	host, ctr := hostAndContainer(b)
	ln, err := probe.ListenTCP(ctr, "10.251.0.2:9000")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go sink(ln)
	m := newMapper(b, Options{NetNS: host})
	bd, err := m.Map(Spec{Proto: "tcp", HostPort: 19000, ContainerIP: ctrIP, ContainerPort: 9000})
	if err != nil {
		b.Fatal(err)
	}
	direct := netip.AddrPortFrom(ctrIP, 9000)
	viaProxy := netip.AddrPortFrom(loopback, bd.HostPort)
	buf := make([]byte, 1<<20)

	var tDirect, tProxy time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := send(host, direct, buf, size)
		if err != nil {
			b.Fatal(err)
		}
		p, err := send(host, viaProxy, buf, size)
		if err != nil {
			b.Fatal(err)
		}
		tDirect += d
		tProxy += p
	}
	b.StopTimer()
	mb := float64(b.N) * size / (1 << 20)
	b.ReportMetric(mb/tDirect.Seconds(), "direct-MB/s")
	b.ReportMetric(mb/tProxy.Seconds(), "proxy-MB/s")
	b.ReportMetric(tDirect.Seconds()/tProxy.Seconds(), "proxy/direct")
}

// sink reads each connection to its end and then answers one byte, so
// that the sender knows every byte arrived.
func sink(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			if _, err := io.Copy(io.Discard, c); err == nil {
				c.Write([]byte{1})
			}
		}()
	}
}

// send writes size bytes to addr from ns, half-closes, waits for the
// sink's byte and returns the time it all took.
func send(ns string, addr netip.AddrPort, buf []byte, size int) (time.Duration, error) {
	start := time.Now()
	c, err := probe.DialContext(context.Background(), ns, "tcp", addr.String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	for sent := 0; sent < size; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			return 0, fmt.Errorf("send to %s: %w", addr, err)
		}
	}
	c.(*net.TCPConn).CloseWrite()
	ack := make([]byte, 1)
	if _, err := io.ReadFull(c, ack); err != nil {
		return 0, fmt.Errorf("ack from %s: %w", addr, err)
	}
	if _, err := c.Read(ack); !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("end from %s: %v", addr, err)
	}
	return time.Since(start), nil
}
