package portmap

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// udpBufSize is docker-proxy's UDPBufSize: the largest UDP payload.
const udpBufSize = 65507

// udpProxy relays datagrams as docker-proxy's UDPProxy does: each client
// address gets its own socket to the container (a "flow"), so that
// replies find their way back. A flow silent for the timeout ends.
// docker-proxy counts only replies as activity, so a datagram that arrives
// as its flow expires is lost; here a datagram from the client counts too,
// and the flow leaves the table before its socket closes, so a datagram
// always finds a live flow or makes a new one.
type udpProxy struct {
	conn    *net.UDPConn
	v6      bool
	dial    func() (*net.UDPConn, error)
	timeout time.Duration
	wg      sync.WaitGroup

	mu     sync.Mutex
	flows  map[netip.AddrPort]*udpFlow
	closed bool
}

type udpFlow struct {
	c    *net.UDPConn
	last time.Time // the client's last datagram; guarded by udpProxy.mu
}

func (m *Mapper) startUDP(b Binding) (proxy, error) {
	conn, err := inNSCall(m, func() (*net.UDPConn, error) {
		return net.ListenUDP(network("udp", b.HostIP), net.UDPAddrFromAddrPort(b.Host()))
	})
	if err != nil {
		return nil, &ProxyError{Err: err}
	}
	p := &udpProxy{conn: conn, v6: b.HostIP.Is6(), timeout: m.opts.UDPTimeout, flows: map[netip.AddrPort]*udpFlow{}}
	// Ask for each datagram's destination address, so that replies leave
	// from the address the client sent to even when the proxy listens on
	// all of them: a reply from another address would be dropped by a
	// connected client socket.
	if p.v6 {
		err = ipv6.NewPacketConn(conn).SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
	} else {
		err = ipv4.NewPacketConn(conn).SetControlMessage(ipv4.FlagDst, true)
	}
	if err != nil {
		conn.Close()
		return nil, &ProxyError{Err: err}
	}
	backend := net.UDPAddrFromAddrPort(b.Container())
	p.dial = func() (*net.UDPConn, error) {
		return inNSCall(m, func() (*net.UDPConn, error) {
			return net.DialUDP(network("udp", b.ContainerIP), nil, backend)
		})
	}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *udpProxy) serve() {
	defer p.wg.Done()
	buf := make([]byte, udpBufSize)
	var oob []byte
	if p.v6 {
		oob = ipv6.NewControlMessage(ipv6.FlagDst | ipv6.FlagInterface)
	} else {
		oob = ipv4.NewControlMessage(ipv4.FlagDst)
	}
	for {
		n, oobn, _, from, err := p.conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		flow, err := p.flow(from, p.destination(oob[:oobn]))
		if err != nil {
			continue // no socket to the container: the datagram is lost, as with docker-proxy
		}
		flow.Write(buf[:n])
	}
}

// destination is the address a datagram was sent to, from its control
// message; invalid when there was none.
func (p *udpProxy) destination(oob []byte) netip.Addr {
	var ip net.IP
	if p.v6 {
		var cm ipv6.ControlMessage
		if cm.Parse(oob) == nil {
			ip = cm.Dst
		}
	} else {
		var cm ipv4.ControlMessage
		if cm.Parse(oob) == nil {
			ip = cm.Dst
		}
	}
	a, _ := netip.AddrFromSlice(ip)
	if !p.v6 {
		a = a.Unmap()
	}
	return a
}

// flow returns the socket to the container for client, making it (and
// its reply loop) on the first datagram, and marks the flow active.
func (p *udpProxy) flow(client netip.AddrPort, dst netip.Addr) (*net.UDPConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.flows[client]; ok {
		f.last = time.Now()
		return f.c, nil
	}
	if p.closed {
		return nil, net.ErrClosed
	}
	c, err := p.dial()
	if err != nil {
		return nil, err
	}
	f := &udpFlow{c: c, last: time.Now()}
	p.flows[client] = f
	p.wg.Add(1)
	go p.replies(f, client, dst)
	return c, nil
}

// expire ends f when the client has been silent for the timeout too,
// taking it out of the table at once; it says whether f ended.
func (p *udpProxy) expire(f *udpFlow, client netip.AddrPort) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed && time.Since(f.last) < p.timeout {
		return false
	}
	if p.flows[client] == f {
		delete(p.flows, client)
	}
	return true
}

// replies sends what the container answers back to client, from dst,
// until the flow has been silent for the timeout or the proxy closes.
func (p *udpProxy) replies(f *udpFlow, client netip.AddrPort, dst netip.Addr) {
	defer p.wg.Done()
	c := f.c
	defer func() {
		p.mu.Lock()
		if p.flows[client] == f {
			delete(p.flows, client)
		}
		p.mu.Unlock()
		c.Close()
	}()
	var oob []byte
	if dst.IsValid() {
		if p.v6 {
			oob = (&ipv6.ControlMessage{Src: dst.AsSlice()}).Marshal()
		} else {
			oob = (&ipv4.ControlMessage{Src: dst.AsSlice()}).Marshal()
		}
	}
	buf := make([]byte, udpBufSize)
	for {
		c.SetReadDeadline(time.Now().Add(p.timeout))
		n, err := c.Read(buf)
		// A refused datagram (nothing listens in the container yet) does
		// not end the flow nor extend it, as in docker-proxy.
		for errors.Is(err, syscall.ECONNREFUSED) {
			n, err = c.Read(buf)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && !p.expire(f, client) {
			continue
		}
		if err != nil {
			return
		}
		if _, _, err := p.conn.WriteMsgUDPAddrPort(buf[:n], oob, client); err != nil && errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// Close stops listening, ends every flow and waits for their goroutines.
func (p *udpProxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.conn.Close()
	for _, f := range p.flows {
		f.c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}
