package probe

import (
	"net"
	"net/netip"
	"sync"
)

// Server is the far side of a probe, running inside a namespace on the
// caller's goroutines (its sockets were created inside the namespace).
// Close stops it and waits until its goroutines have returned.
type Server struct {
	addr net.Addr
	stop func() error
	wg   sync.WaitGroup
	once sync.Once
	err  error
}

// Addr is the bound address (with the chosen port when the port was 0).
func (s *Server) Addr() net.Addr { return s.addr }

// AddrPort is Addr as a netip.AddrPort. For a server bound to the wildcard
// address it is 0.0.0.0:port or [::]:port: combine Port with the
// namespace's own address to probe it.
func (s *Server) AddrPort() netip.AddrPort {
	switch a := s.addr.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case *net.UDPAddr:
		return a.AddrPort()
	}
	return netip.AddrPort{}
}

// Port is the bound port.
func (s *Server) Port() uint16 { return s.AddrPort().Port() }

// Close stops the server; calling it again returns the first result.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.err = s.stop()
		s.wg.Wait()
	})
	return s.err
}
