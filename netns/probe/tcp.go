package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// TCP checks that a TCP connection to addr can be established from inside
// the namespace at ns, retrying until it succeeds or the deadline passes.
// The connection is closed at once.
func TCP(ctx context.Context, ns string, addr netip.AddrPort, o Opts) error {
	what := fmt.Sprintf("tcp connect %s from %s", addr, ns)
	return attempt(ctx, o, what, "connection", func(ctx context.Context) error {
		c, err := dial(ctx, ns, "tcp", addr.String())
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// ServeTCPEcho listens on addr inside the namespace at ns, accepts every
// connection and echoes what it receives until the peer closes it. Close
// also closes the connections still open.
func ServeTCPEcho(ns, addr string) (*Server, error) {
	ln, err := ListenTCP(ns, addr)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	closed := false
	s := &Server{addr: ln.Addr()}
	s.stop = func() error {
		err := ln.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		return err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				// Out of descriptors or an aborted handshake: keep serving.
				time.Sleep(10 * time.Millisecond)
				continue
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = true
			s.wg.Add(1)
			mu.Unlock()
			go func() {
				defer s.wg.Done()
				io.Copy(c, c)
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	return s, nil
}
