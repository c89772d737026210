package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// UDPEcho sends payload to addr from inside the namespace at ns and waits
// for the same bytes to come back, retrying until they do or the deadline
// passes. An empty payload is replaced by random bytes. Each try uses a
// fresh socket, so a late echo of an earlier try cannot be mistaken.
func UDPEcho(ctx context.Context, ns string, addr netip.AddrPort, payload []byte, o Opts) error {
	if len(payload) == 0 {
		payload = make([]byte, 16)
		rand.Read(payload)
	}
	what := fmt.Sprintf("udp echo %s from %s", addr, ns)
	return attempt(ctx, o, what, "echo", func(ctx context.Context) error {
		c, err := dial(ctx, ns, "udp", addr.String())
		if err != nil {
			return err
		}
		defer c.Close()
		defer closeOnCancel(ctx, c)()
		if dl, ok := ctx.Deadline(); ok {
			c.SetDeadline(dl)
		}
		if _, err := c.Write(payload); err != nil {
			return tryErr(ctx, err)
		}
		buf := make([]byte, len(payload)+1)
		for {
			// A connected UDP socket reports an ICMP port unreachable as
			// ECONNREFUSED here: the try fails with that reason.
			n, err := c.Read(buf)
			if err != nil {
				return tryErr(ctx, err)
			}
			if bytes.Equal(buf[:n], payload) {
				return nil
			}
		}
	})
}

// ServeUDPEcho binds addr inside the namespace at ns and sends every
// datagram back to its sender.
func ServeUDPEcho(ns, addr string) (*Server, error) {
	c, err := ListenUDP(ns, addr)
	if err != nil {
		return nil, err
	}
	s := &Server{addr: c.LocalAddr(), stop: c.Close}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // an ICMP error from an earlier send; keep serving
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return s, nil
}
