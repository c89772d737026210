package portmap

import (
	"io"
	"net"
	"net/netip"
)

// startProxy starts what serves b's host port: the userland proxy, or with
// NoProxy a held port.
func (m *Mapper) startProxy(b Binding) (proxy, error) {
	if m.opts.NoProxy {
		return m.hold(b)
	}
	if b.Proto == "udp" {
		return m.startUDP(b)
	}
	return m.startTCP(b)
}

// network is the network docker-proxy listens and dials on: "tcp4" for an
// IPv4 address, "tcp6" for IPv6, so that 0.0.0.0 does not become a
// dual-stack [::] listener.
func network(proto string, a netip.Addr) string {
	if a.Is4() {
		return proto + "4"
	}
	return proto + "6"
}

// heldPort keeps a host port bound without serving it.
type heldPort struct{ c io.Closer }

func (h heldPort) Close() error { return h.c.Close() }

// hold binds b's host port as Docker's dummyProxy does when the userland
// proxy is off: with the plain "tcp"/"udp" network, and its error returned
// as it is ("listen tcp 0.0.0.0:80: bind: address already in use").
func (m *Mapper) hold(b Binding) (proxy, error) {
	var c io.Closer
	err := m.inNS(func() error {
		var err error
		if b.Proto == "udp" {
			c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(b.Host()))
		} else {
			c, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(b.Host()))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return heldPort{c}, nil
}
