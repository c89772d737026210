package portmap

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/nstest"
	"github.com/nslab/nslab/netns/probe"
)

var (
	hostIP   = netip.MustParseAddr("10.251.0.1")
	hostIP2  = netip.MustParseAddr("10.251.0.3") // a second address of the host, not its primary
	loopback = netip.MustParseAddr("127.0.0.1")
)

// hostAndContainer is E13's picture in small: a "host" namespace where
// the proxies listen, and a "container" namespace joined to it by a veth
// (10.251.0.1 and .3 on the host side, 10.251.0.2 in the container).
func hostAndContainer(t testing.TB) (host, ctr string) {
	t.Helper()
	return nstest.Segment(t, prefix,
		nstest.End{Role: "host", Link: "veth0", CIDRs: []string{"10.251.0.1/24", "10.251.0.3/24"}},
		nstest.End{Role: "ctr", Link: "eth0", CIDRs: []string{"10.251.0.2/24"}})
}

// echoBehind is hostAndContainer with an echo server in the container:
// on TCP port 80, or on UDP port 53.
func echoBehind(t testing.TB, proto string) (host, ctr string) {
	t.Helper()
	host, ctr = hostAndContainer(t)
	if proto == "udp" {
		s, err := probe.ServeUDPEcho(ctr, "10.251.0.2:53")
		nstest.Started(t, s, err)
	} else {
		s, err := probe.ServeTCPEcho(ctr, "10.251.0.2:80")
		nstest.Started(t, s, err)
	}
	return host, ctr
}

func newMapper(t testing.TB, o Options) *Mapper { t.Helper(); return nstest.Started(t, New(o), nil) }

func mustMap(t *testing.T, m *Mapper, s Spec) Binding {
	t.Helper()
	b, err := m.Map(s)
	if err != nil {
		t.Fatalf("map %+v: %v", s, err)
	}
	return b
}

// echoThrough sends a payload to addr from inside ns, shuts down its
// sending side and reads everything back: it passes only if the relay
// carries data both ways and passes the half-close on.
func echoThrough(t *testing.T, ns string, addr netip.AddrPort) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := probe.DialContext(ctx, ns, "tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	payload := make([]byte, 256<<10)
	rand.Read(payload)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("echo through %s: %v", addr, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("echo through %s: %d bytes back, want the %d sent", addr, len(got), len(payload))
	}
}

// listenIn binds addr in ns as "another program" would.
func listenIn(t *testing.T, ns, proto string, addr netip.AddrPort) io.Closer {
	t.Helper()
	var c io.Closer
	var err error
	if proto == "udp" {
		c, err = probe.ListenUDP(ns, addr.String())
	} else {
		c, err = probe.ListenTCP(ns, addr.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// free says whether addr can be bound in ns over proto right now.
func free(t *testing.T, ns, proto string, addr netip.AddrPort) bool {
	t.Helper()
	err := netns.Do(ns, func() error {
		var c io.Closer
		var err error
		if proto == "udp" {
			c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
		} else {
			c, err = net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(addr))
		}
		if err == nil {
			c.Close()
		}
		return err
	})
	if err != nil && !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatal(err)
	}
	return err == nil
}

// [E13] -p 8080:80: the proxy answers on the host's loopback and on its
// addresses, and relays to the server in the container, both ways, with
// half-close.
func TestTCPProxy(t *testing.T) {
	host, ctr := echoBehind(t, "tcp")
	m := newMapper(t, Options{NetNS: host})
	b := mustMap(t, m, Spec{Proto: "tcp", HostPort: 8080, ContainerIP: ctrIP, ContainerPort: 80})
	want := Binding{Proto: "tcp", HostIP: netip.IPv4Unspecified(), HostPort: 8080, ContainerIP: ctrIP, ContainerPort: 80}
	if b != want || b.String() != "0.0.0.0:8080->10.251.0.2:80/tcp" {
		t.Errorf("binding %v, want %v", b, want)
	}
	for _, a := range []netip.Addr{loopback, hostIP, hostIP2} {
		echoThrough(t, host, netip.AddrPortFrom(a, 8080))
	}
	// From the container, through the host's address, as a client on
	// another host would come in.
	echoThrough(t, ctr, netip.AddrPortFrom(hostIP, 8080))

	// A host address only: loopback does not answer.
	b2 := mustMap(t, m, Spec{Proto: "tcp", HostIP: hostIP2, HostPort: 8081, ContainerIP: ctrIP, ContainerPort: 80})
	echoThrough(t, host, b2.Host())
	if err := probe.TCP(context.Background(), host, netip.AddrPortFrom(loopback, 8081), probe.Opts{Timeout: 300 * time.Millisecond}); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("127.0.0.1:8081 with the port published on %s only: %v", hostIP2, err)
	}
}

// An IPv6 endpoint is published on [::] beside the IPv4 one on 0.0.0.0,
// the same port, as Docker does for a network with IPv6.
func TestTCPProxyIPv6(t *testing.T) {
	host, ctr := hostAndContainer(t)
	nstest.Addr(t, host, "veth0", "fd00:251::1/64")
	nstest.Addr(t, ctr, "eth0", "fd00:251::2/64")
	s, err := probe.ServeTCPEcho(ctr, ":80")
	nstest.Started(t, s, err)
	m := newMapper(t, Options{NetNS: host})
	mustMap(t, m, Spec{Proto: "tcp", HostPort: 8080, ContainerIP: ctrIP, ContainerPort: 80})
	b := mustMap(t, m, Spec{Proto: "tcp", HostPort: 8080, ContainerIP: netip.MustParseAddr("fd00:251::2"), ContainerPort: 80})
	if b.HostIP != netip.IPv6Unspecified() || b.String() != "[::]:8080->[fd00:251::2]:80/tcp" {
		t.Errorf("IPv6 binding %v", b)
	}
	echoThrough(t, host, netip.MustParseAddrPort("[::1]:8080"))
	echoThrough(t, host, netip.MustParseAddrPort("127.0.0.1:8080"))
	if _, err := m.Map(Spec{Proto: "tcp", HostPort: 8080, ContainerIP: netip.MustParseAddr("fd00:251::2"), ContainerPort: 80}); err == nil ||
		err.Error() != "Bind for :::8080 failed: port is already allocated" {
		t.Errorf("[::]:8080 twice: %v", err)
	}
}

// [E13] Docker 20.10 publishes a port asked on all addresses on [::] too,
// and with no IPv6 address in the container its proxy relays that to the
// container's IPv4 address; without the proxy there is no such binding.
func TestTCPProxyIPv6HostIPv4Container(t *testing.T) {
	host, _ := echoBehind(t, "tcp")
	m := newMapper(t, Options{NetNS: host})
	mustMap(t, m, Spec{Proto: "tcp", HostPort: 8080, ContainerIP: ctrIP, ContainerPort: 80})
	b := mustMap(t, m, Spec{Proto: "tcp", HostIP: netip.IPv6Unspecified(), HostPort: 8080, ContainerIP: ctrIP, ContainerPort: 80})
	if b.String() != "[::]:8080->10.251.0.2:80/tcp" {
		t.Errorf("binding %v", b)
	}
	echoThrough(t, host, netip.MustParseAddrPort("[::1]:8080"))
	echoThrough(t, host, netip.MustParseAddrPort("127.0.0.1:8080"))
	np := newMapper(t, Options{NetNS: host, NoProxy: true})
	if _, err := np.Map(Spec{Proto: "tcp", HostIP: netip.IPv6Unspecified(), HostPort: 8081, ContainerIP: ctrIP, ContainerPort: 80}); err == nil ||
		err.Error() != "portmap: host address :: and container address 10.251.0.2: only the userland proxy relays between families" {
		t.Errorf("without the proxy: %v", err)
	}
}

// A connection the container refuses is closed for the client.
func TestTCPProxyBackendDown(t *testing.T) {
	host, _ := hostAndContainer(t)
	m := newMapper(t, Options{NetNS: host})
	mustMap(t, m, Spec{Proto: "tcp", HostPort: 8080, ContainerIP: ctrIP, ContainerPort: 81})
	c, err := probe.DialContext(context.Background(), host, "tcp", "127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read from a proxy with no backend: %d, %v; want EOF", n, err)
	}
}

// [E13] -p 5353:53/udp: datagrams are relayed per client and the replies
// come from the address the client sent to.
func TestUDPProxy(t *testing.T) {
	host, ctr := echoBehind(t, "udp")
	m := newMapper(t, Options{NetNS: host})
	b := mustMap(t, m, Spec{Proto: "udp", HostPort: 5353, ContainerIP: ctrIP, ContainerPort: 53})
	opts := probe.Opts{Timeout: 3 * time.Second}
	for _, a := range []netip.Addr{loopback, hostIP, hostIP2} {
		if err := probe.UDPEcho(context.Background(), host, netip.AddrPortFrom(a, b.HostPort), nil, opts); err != nil {
			t.Error(err)
		}
	}
	// From the container to the host's second address: the reply must
	// leave from .3, not from the primary .1, or the client drops it.
	if err := probe.UDPEcho(context.Background(), ctr, netip.AddrPortFrom(hostIP2, 5353), nil, opts); err != nil {
		t.Error(err)
	}
}

// A UDP flow lives while either side sends, ends after the timeout of
// silence, and a new datagram makes a new one.
func TestUDPFlowTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	host, ctr := echoBehind(t, "udp")
	// A server that never replies: only the client's datagrams keep the
	// flow alive.
	silent, err := probe.ListenUDP(ctr, "10.251.0.2:54")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	m := newMapper(t, Options{NetNS: host, UDPTimeout: timeout})
	echo := mustMap(t, m, Spec{Proto: "udp", HostPort: 5353, ContainerIP: ctrIP, ContainerPort: 53})
	quiet := mustMap(t, m, Spec{Proto: "udp", HostPort: 5354, ContainerIP: ctrIP, ContainerPort: 54})
	flows := func(b Binding) int {
		m.mu.Lock()
		p := m.mappings[keyOf(b)].proxy.(*udpProxy)
		m.mu.Unlock()
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.flows)
	}
	waitNoFlows := func(b Binding) {
		t.Helper()
		deadline := time.Now().Add(4 * timeout)
		for flows(b) != 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := flows(b); n != 0 {
			t.Fatalf("%s: %d flows after the timeout, want 0", b, n)
		}
	}
	dial := func(port string) net.Conn {
		c, err := probe.DialContext(context.Background(), host, "udp", "127.0.0.1:"+port)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	c := dial("5353")
	exchange := func() {
		t.Helper()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		if n, err := c.Read(buf); err != nil || string(buf[:n]) != "ping" {
			t.Fatalf("echo: %q, %v", buf[:n], err)
		}
	}
	exchange()
	if n := flows(echo); n != 1 {
		t.Errorf("%d flows after one exchange, want 1", n)
	}
	waitNoFlows(echo)
	exchange()

	q := dial("5354")
	for end := time.Now().Add(3 * timeout); time.Now().Before(end); {
		if _, err := q.Write([]byte("tick")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(timeout / 5)
		if n := flows(quiet); n != 1 {
			t.Fatalf("a flow with client traffic every %s has %d flows, want 1", timeout/5, n)
		}
	}
	waitNoFlows(quiet)
}

// Conflicts give Docker's errors and leave nothing reserved or listening.
func TestConflicts(t *testing.T) {
	host, _ := hostAndContainer(t)
	m := newMapper(t, Options{NetNS: host})
	web := mustMap(t, m, Spec{Proto: "tcp", HostPort: 8080, ContainerIP: ctrIP, ContainerPort: 80})

	_, err := m.Map(Spec{Proto: "tcp", HostPort: 8080, ContainerIP: netip.MustParseAddr("10.251.0.9"), ContainerPort: 80})
	var ae *AllocatedError
	if !errors.As(err, &ae) || err.Error() != "Bind for 0.0.0.0:8080 failed: port is already allocated" {
		t.Errorf("same port twice: %v", err)
	}
	// The same port over UDP is another reservation.
	mustMap(t, m, Spec{Proto: "udp", HostPort: 8080, ContainerIP: ctrIP, ContainerPort: 80})

	// 127.0.0.1:8080 is another address for the allocator, but 0.0.0.0:8080
	// holds it: the proxy cannot bind.
	_, err = m.Map(Spec{Proto: "tcp", HostIP: loopback, HostPort: 8080, ContainerIP: ctrIP, ContainerPort: 80})
	var pe *ProxyError
	if !errors.As(err, &pe) || err.Error() != "Error starting userland proxy: listen tcp4 127.0.0.1:8080: bind: address already in use" {
		t.Errorf("127.0.0.1:8080 under 0.0.0.0:8080: %v", err)
	}
	if len(m.Bindings()) != 2 {
		t.Errorf("bindings after failures: %v", m.Bindings())
	}
	if err := m.Unmap(web); err != nil {
		t.Fatal(err)
	}
	mustMap(t, m, Spec{Proto: "tcp", HostIP: loopback, HostPort: 8080, ContainerIP: ctrIP, ContainerPort: 80})

	// Another program holds the port: Docker's error, nothing kept.
	for _, proto := range []string{"tcp", "udp"} {
		at := netip.AddrPortFrom(netip.IPv4Unspecified(), 9090)
		other := listenIn(t, host, proto, at)
		_, err := m.Map(Spec{Proto: proto, HostPort: 9090, ContainerIP: ctrIP, ContainerPort: 80})
		want := "Error starting userland proxy: listen " + proto + "4 0.0.0.0:9090: bind: address already in use"
		if !errors.As(err, &pe) || !errors.Is(err, syscall.EADDRINUSE) || err.Error() != want {
			t.Errorf("%s port held by another program: %v, want %q", proto, err, want)
		}
		other.Close()
		b := mustMap(t, m, Spec{Proto: proto, HostPort: 9090, ContainerIP: ctrIP, ContainerPort: 80})
		if err := m.Unmap(b); err != nil {
			t.Fatal(err)
		}
	}
}

// -P: ephemeral ports from the range, the next one when another program
// holds one, "all ports are allocated" when the range is full, and
// round-robin after a release.
func TestEphemeralPorts(t *testing.T) {
	host, _ := echoBehind(t, "tcp")

	// The default range is the namespace's ip_local_port_range, as
	// Docker 20.10 reads it when its port allocator starts.
	if err := netns.Do(host, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte("45000 45010\n"), 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	def := newMapper(t, Options{NetNS: host})
	for _, want := range []uint16{45000, 45001} {
		if b := mustMap(t, def, Spec{Proto: "tcp", ContainerIP: ctrIP, ContainerPort: 80}); b.HostPort != want {
			t.Errorf("default range: port %d, want %d", b.HostPort, want)
		}
	}
	echoThrough(t, host, netip.MustParseAddrPort("127.0.0.1:45001"))

	m := newMapper(t, Options{NetNS: host, Range: [2]uint16{40000, 40003}})
	other := listenIn(t, host, "tcp", netip.MustParseAddrPort("0.0.0.0:40001"))
	var got []uint16
	for i := 0; i < 3; i++ {
		got = append(got, mustMap(t, m, Spec{Proto: "tcp", ContainerIP: ctrIP, ContainerPort: 80}).HostPort)
	}
	if want := []uint16{40000, 40002, 40003}; !equal(got, want) {
		t.Errorf("ephemeral ports %v, want %v (40001 held by another program)", got, want)
	}
	for _, p := range got {
		echoThrough(t, host, netip.AddrPortFrom(loopback, p))
	}
	other.Close()
	if b := mustMap(t, m, Spec{Proto: "tcp", ContainerIP: ctrIP, ContainerPort: 80}); b.HostPort != 40001 {
		t.Errorf("after the other program left: %d, want 40001", b.HostPort)
	}
	if _, err := m.Map(Spec{Proto: "tcp", ContainerIP: ctrIP, ContainerPort: 80}); !errors.Is(err, ErrAllPortsAllocated) {
		t.Errorf("full range: %v", err)
	}
	if err := m.Unmap(Binding{Proto: "tcp", HostIP: netip.IPv4Unspecified(), HostPort: 40002}); err != nil {
		t.Fatal(err)
	}
	if b := mustMap(t, m, Spec{Proto: "tcp", ContainerIP: ctrIP, ContainerPort: 80}); b.HostPort != 40002 {
		t.Errorf("after releasing 40002: %d", b.HostPort)
	}
}

// -p 8000-8002:80: the first free port of the range, each in turn.
func TestPortRange(t *testing.T) {
	host, _ := echoBehind(t, "tcp")
	m := newMapper(t, Options{NetNS: host})
	spec := Spec{Proto: "tcp", HostPort: 8000, HostPortEnd: 8002, ContainerIP: ctrIP, ContainerPort: 80}
	var got []uint16
	for i := 0; i < 3; i++ {
		got = append(got, mustMap(t, m, spec).HostPort)
	}
	if want := []uint16{8000, 8001, 8002}; !equal(got, want) {
		t.Errorf("range ports %v, want %v", got, want)
	}
	echoThrough(t, host, netip.MustParseAddrPort("127.0.0.1:8001"))
	if _, err := m.Map(spec); !errors.Is(err, ErrAllPortsAllocated) {
		t.Errorf("full range: %v", err)
	}
	if _, err := m.Map(Spec{Proto: "tcp", HostPort: 8001, ContainerIP: ctrIP, ContainerPort: 80}); err == nil ||
		err.Error() != "Bind for 0.0.0.0:8001 failed: port is already allocated" {
		t.Errorf("8001 inside a published range: %v", err)
	}
	// A range whose next port another program holds fails, as in Docker
	// 20.10 (only ephemeral requests are retried).
	other := listenIn(t, host, "tcp", netip.MustParseAddrPort("0.0.0.0:8100"))
	defer other.Close()
	if _, err := m.Map(Spec{Proto: "tcp", HostPort: 8100, HostPortEnd: 8101, ContainerIP: ctrIP, ContainerPort: 80}); err == nil ||
		err.Error() != "Error starting userland proxy: listen tcp4 0.0.0.0:8100: bind: address already in use" {
		t.Errorf("range with a held first port: %v", err)
	}
}

// Unmap closes the listener and the connections relayed through it.
func TestUnmap(t *testing.T) {
	host, _ := echoBehind(t, "tcp")
	m := newMapper(t, Options{NetNS: host})
	b := mustMap(t, m, Spec{Proto: "tcp", HostPort: 8080, ContainerIP: ctrIP, ContainerPort: 80})
	u := mustMap(t, m, Spec{Proto: "udp", HostPort: 8080, ContainerIP: ctrIP, ContainerPort: 80})

	c, err := probe.DialContext(context.Background(), host, "tcp", "127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}

	for _, x := range []Binding{b, u} {
		if err := m.Unmap(x); err != nil {
			t.Fatal(err)
		}
		if !free(t, host, x.Proto, x.Host()) {
			t.Errorf("%s still bound after Unmap", x)
		}
		if err := m.Unmap(x); !errors.Is(err, ErrPortNotMapped) || err.Error() != "port is not mapped" {
			t.Errorf("second Unmap of %s: %v", x, err)
		}
	}
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("relayed connection after Unmap: %v, want closed", err)
	}
	if err := probe.TCP(context.Background(), host, netip.MustParseAddrPort("127.0.0.1:8080"), probe.Opts{Timeout: 300 * time.Millisecond}); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connect after Unmap: %v", err)
	}
	if len(m.Bindings()) != 0 {
		t.Errorf("bindings after Unmap: %v", m.Bindings())
	}
}

// Close unmaps everything and refuses later Maps.
func TestClose(t *testing.T) {
	host, _ := hostAndContainer(t)
	m := New(Options{NetNS: host})
	var bs []Binding
	for _, s := range []Spec{
		{Proto: "tcp", HostPort: 8080, ContainerIP: ctrIP, ContainerPort: 80},
		{Proto: "udp", HostPort: 8080, ContainerIP: ctrIP, ContainerPort: 80},
		{Proto: "tcp", ContainerIP: ctrIP, ContainerPort: 443},
	} {
		bs = append(bs, mustMap(t, m, s))
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if !free(t, host, b.Proto, b.Host()) {
			t.Errorf("%s still bound after Close", b)
		}
	}
	if _, err := m.Map(Spec{Proto: "tcp", HostPort: 8080, ContainerIP: ctrIP, ContainerPort: 80}); !errors.Is(err, ErrClosed) {
		t.Errorf("Map after Close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// --userland-proxy=false: the port is held but nothing relays; its
// conflicts read as Docker's dummyProxy errors.
func TestNoProxy(t *testing.T) {
	host, _ := echoBehind(t, "tcp")
	m := newMapper(t, Options{NetNS: host, NoProxy: true})
	b := mustMap(t, m, Spec{Proto: "tcp", HostPort: 8080, ContainerIP: ctrIP, ContainerPort: 80})
	if free(t, host, "tcp", b.Host()) {
		t.Error("port not held")
	}
	c, err := probe.DialContext(context.Background(), host, "tcp", "127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	c.Write([]byte("x"))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read through a held port: %v, want nothing", err)
	}

	other := listenIn(t, host, "tcp", netip.MustParseAddrPort("0.0.0.0:9090"))
	defer other.Close()
	if _, err := m.Map(Spec{Proto: "tcp", HostPort: 9090, ContainerIP: ctrIP, ContainerPort: 80}); err == nil ||
		err.Error() != "listen tcp 0.0.0.0:9090: bind: address already in use" {
		t.Errorf("held port without proxy: %v", err)
	}
	if err := m.Unmap(b); err != nil {
		t.Fatal(err)
	}
	if !free(t, host, "tcp", b.Host()) {
		t.Error("port still held after Unmap")
	}
}

func equal(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
