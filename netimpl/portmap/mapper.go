package portmap

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/nslab/nslab/netns"
)

// maxAllocatePortAttempts is how often the bridge driver of Docker 20.10
// tries another ephemeral port when the proxy of the last one could not
// bind (drivers/bridge/port_mapping.go).
const maxAllocatePortAttempts = 10

// udpFlowTimeout is docker-proxy's UDPConnTrackTimeout.
const udpFlowTimeout = 90 * time.Second

// Options tune a Mapper. The zero value is Docker 20.10's default daemon.
type Options struct {
	// NoProxy is dockerd's --userland-proxy=false: no proxy relays; the
	// host port is only held by a listener nobody serves, as Docker's
	// dummyProxy does, so that no other program takes it.
	NoProxy bool
	// Range is the ephemeral range for -P and for -p without a host port;
	// zero means Docker 20.10's: the namespace's ip_local_port_range when
	// the Mapper is made, else 49153-65535.
	Range [2]uint16
	// NetNS is the network namespace (a pin path) in which the proxies
	// listen and connect to containers. Empty means the caller's own
	// namespace, where hostd runs: its virtual host's.
	NetNS string
	// UDPTimeout ends a UDP flow silent for this long, no datagram either
	// way (default 90s, docker-proxy's UDPConnTrackTimeout).
	UDPTimeout time.Duration
}

// Mapper owns the published ports of one daemon: their reservations and
// their proxies. It is safe for concurrent use.
type Mapper struct {
	opts     Options
	rangeErr error

	mu       sync.Mutex
	alloc    *allocator
	mappings map[key]*mapping
	closed   bool
}

// key names a published port as Docker's portmapper does: protocol, host
// address and host port.
type key struct {
	proto string
	host  netip.AddrPort
}

type mapping struct {
	b     Binding
	proxy proxy
}

// proxy is a running userland proxy (or a held port); Close stops it and
// returns when its goroutines have ended.
type proxy interface{ Close() error }

// New returns a Mapper. An invalid Options.Range makes every ephemeral
// request fail with the reason.
func New(o Options) *Mapper {
	m := &Mapper{opts: o, mappings: map[key]*mapping{}}
	begin, end := o.Range[0], o.Range[1]
	if begin == 0 && end == 0 {
		begin, end = DefaultRangeStart, DefaultRangeEnd
		var lo, hi uint16
		if err := m.inNS(func() (err error) { lo, hi, err = localPortRange(); return err }); err == nil {
			begin, end = lo, hi
		}
	}
	if begin == 0 || end < begin {
		m.rangeErr = fmt.Errorf("portmap: invalid ephemeral range %d-%d", begin, end)
	}
	if m.opts.UDPTimeout <= 0 {
		m.opts.UDPTimeout = udpFlowTimeout
	}
	m.alloc = newAllocator(begin, end)
	return m
}

// Map reserves a host port for s and starts its proxy. The errors are
// Docker's own texts, without any prefix, so that hostd can wrap them the
// way dockerd does ("driver failed programming external connectivity on
// endpoint ..."): *AllocatedError when this Mapper already published the
// port, ErrAllPortsAllocated when a range is full, *ProxyError when the
// proxy could not listen (another program has the port), a bare listen
// error with NoProxy. On any error nothing stays reserved or listening.
func (m *Mapper) Map(s Spec) (Binding, error) {
	b, end, err := s.binding()
	if err != nil {
		return Binding{}, err
	}
	if b.HostIP.Is6() && b.ContainerIP.Is4() && m.opts.NoProxy {
		return Binding{}, fmt.Errorf("portmap: host address %s and container address %s: only the userland proxy relays between families", b.HostIP, b.ContainerIP)
	}
	if s.HostPort == 0 && m.rangeErr != nil {
		return Binding{}, m.rangeErr
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Binding{}, ErrClosed
	}
	attempts := 1
	if s.HostPort == 0 {
		attempts = maxAllocatePortAttempts
	}
	for i := 0; i < attempts; i++ {
		var port uint16
		if port, err = m.alloc.request(b.HostIP, b.Proto, s.HostPort, end); err != nil {
			return Binding{}, err
		}
		b.HostPort = port
		var p proxy
		if p, err = m.startProxy(b); err == nil {
			m.mappings[keyOf(b)] = &mapping{b: b, proxy: p}
			return b, nil
		}
		m.alloc.release(b.HostIP, b.Proto, port)
	}
	return Binding{}, err
}

// Unmap stops the proxy of b and releases its host port. A binding this
// Mapper does not hold gives ErrPortNotMapped.
func (m *Mapper) Unmap(b Binding) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := keyOf(Binding{Proto: b.Proto, HostIP: b.HostIP.Unmap(), HostPort: b.HostPort})
	mp, ok := m.mappings[k]
	if !ok {
		return ErrPortNotMapped
	}
	return m.unmapLocked(k, mp)
}

func (m *Mapper) unmapLocked(k key, mp *mapping) error {
	delete(m.mappings, k)
	err := mp.proxy.Close()
	m.alloc.release(mp.b.HostIP, mp.b.Proto, mp.b.HostPort)
	if err != nil {
		return fmt.Errorf("portmap: %s: stop proxy: %w", mp.b, err)
	}
	return nil
}

// Bindings lists the published ports, by protocol, host address and port.
func (m *Mapper) Bindings() []Binding {
	m.mu.Lock()
	defer m.mu.Unlock()
	bs := make([]Binding, 0, len(m.mappings))
	for _, mp := range m.mappings {
		bs = append(bs, mp.b)
	}
	slices.SortFunc(bs, func(x, y Binding) int {
		return cmp.Or(cmp.Compare(x.Proto, y.Proto), x.HostIP.Compare(y.HostIP), cmp.Compare(x.HostPort, y.HostPort))
	})
	return bs
}

// Close unmaps every port; later Maps fail with ErrClosed. Calling it
// again does nothing.
func (m *Mapper) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	var errs []error
	for k, mp := range m.mappings {
		if err := m.unmapLocked(k, mp); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func keyOf(b Binding) key {
	return key{proto: b.Proto, host: b.Host()}
}

// inNS runs fn in the Mapper's namespace: on a throwaway thread inside
// Options.NetNS, or right here when it is empty.
func (m *Mapper) inNS(fn func() error) error {
	if m.opts.NetNS == "" {
		return fn()
	}
	return netns.Do(m.opts.NetNS, fn)
}

// inNSCall is the mapper's inNS for an fn that returns a socket.
func inNSCall[T any](m *Mapper, fn func() (T, error)) (T, error) {
	if m.opts.NetNS == "" {
		return fn()
	}
	return netns.Call(m.opts.NetNS, fn)
}
