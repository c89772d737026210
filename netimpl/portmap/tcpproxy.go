package portmap

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// tcpProxy accepts on the host port and relays each connection to the
// container, both ways, as docker-proxy's TCPProxy does.
type tcpProxy struct {
	ln   *net.TCPListener
	dial func(context.Context) (*net.TCPConn, error)

	ctx    context.Context // ends at Close: abandons connects in progress
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  map[*net.TCPConn]struct{}
	closed bool
}

func (m *Mapper) startTCP(b Binding) (proxy, error) {
	ln, err := inNSCall(m, func() (*net.TCPListener, error) {
		return net.ListenTCP(network("tcp", b.HostIP), net.TCPAddrFromAddrPort(b.Host()))
	})
	if err != nil {
		return nil, &ProxyError{Err: err}
	}
	p := &tcpProxy{ln: ln, conns: map[*net.TCPConn]struct{}{}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	backend := b.Container().String()
	p.dial = func(ctx context.Context) (*net.TCPConn, error) {
		c, err := inNSCall(m, func() (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network("tcp", b.ContainerIP), backend)
		})
		if err != nil {
			return nil, err
		}
		return c.(*net.TCPConn), nil
	}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *tcpProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors, or a connection reset before accept:
			// keep serving (docker-proxy would stop here for good).
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go p.relay(c)
	}
}

// relay connects to the container and copies both ways until both
// directions have ended. Each direction passes its EOF on with a
// half-close, so a client that shuts down its sending side still gets the
// rest of the answer.
func (p *tcpProxy) relay(client *net.TCPConn) {
	defer p.wg.Done()
	defer p.forget(client)
	backend, err := p.dial(p.ctx)
	if err != nil {
		return // the client sees its connection closed, as with docker-proxy
	}
	if !p.track(backend) {
		backend.Close()
		return
	}
	defer p.forget(backend)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pipe(backend, client)
	}()
	pipe(client, backend)
	<-done
}

// pipe copies from one side to the other (with splice between TCP
// sockets), then passes the end on.
func pipe(to, from *net.TCPConn) {
	io.Copy(to, from)
	from.CloseRead()
	to.CloseWrite()
}

func (p *tcpProxy) track(c *net.TCPConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *tcpProxy) forget(c *net.TCPConn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// Close stops listening, ends every relayed connection and waits for them.
func (p *tcpProxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.cancel()
	err := p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}
