// Package pathbench measures a path between two network namespaces, for
// the benchmarks that compare container-to-container paths (macvlan,
// static routes, GRE tunnels) with a plain veth: TCP throughput and idle ping round
// trips, all inside the namespaces given.
package pathbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/nslab/nslab/netns/probe"
)

// Throughput sends TCP from the namespace src to dst:5201, served in the
// namespace dstNS, for d and returns what the receiver counted, in bit/s,
// from its first byte to its last.
func Throughput(src, dstNS string, dst netip.Addr, d time.Duration) (float64, error) {
	addr := netip.AddrPortFrom(dst, 5201).String()
	ln, err := probe.ListenTCP(dstNS, addr)
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	type count struct {
		bytes       int64
		first, last time.Time
		err         error
	}
	got := make(chan count, 1)
	go func() {
		var r count
		defer func() { got <- r }()
		c, err := ln.Accept()
		if err != nil {
			r.err = err
			return
		}
		defer c.Close()
		buf := make([]byte, 256<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if r.bytes == 0 {
					r.first = time.Now()
				}
				r.bytes += int64(n)
				r.last = time.Now()
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					r.err = err
				}
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), d+10*time.Second)
	defer cancel()
	c, err := probe.DialContext(ctx, src, "tcp", addr)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 256<<10)
	for end := time.Now().Add(d); time.Now().Before(end); {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return 0, fmt.Errorf("send: %w", err)
		}
	}
	c.(*net.TCPConn).CloseWrite()
	r := <-got
	c.Close()
	if r.err != nil {
		return 0, fmt.Errorf("receive: %w", r.err)
	}
	secs := r.last.Sub(r.first).Seconds()
	if secs <= 0 {
		return 0, fmt.Errorf("received %d bytes in no time", r.bytes)
	}
	return float64(r.bytes) * 8 / secs, nil
}

// RTTP50 is the median of n sequential pings from the namespace src to
// dst.
func RTTP50(src string, dst netip.Addr, n int) (time.Duration, error) {
	rtts := make([]time.Duration, 0, n)
	for range n {
		r, err := probe.Ping(context.Background(), src, dst, probe.Opts{Timeout: 2 * time.Second})
		if err != nil {
			return 0, err
		}
		rtts = append(rtts, r.RTT)
	}
	slices.Sort(rtts)
	return rtts[n/2], nil
}

// Ms is d in milliseconds, the unit the benchmarks report round trips in.
func Ms(d time.Duration) float64 { return d.Seconds() * 1e3 }
