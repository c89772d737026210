package firewall

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/probe"
)

// topology is a Docker host in miniature, all in namespaces of the test:
//
//	c1 172.18.0.2 ─┐                     ┌─ br-b 172.19.0.1 ── c3 172.19.0.2
//	c2 172.18.0.3 ─┴─ br-a 172.18.0.1 ─ host ─ vout 10.99.0.1 ══ eth0 10.99.0.2  out
//
// The host forwards; nothing in it routes anywhere else, and out only knows
// 10.99.0.0/24, so it can answer a container only through masquerading.
type topology struct {
	host, out, c1, c2, c3 string // namespace paths
}

var (
	gwA   = netip.MustParseAddr("172.18.0.1")
	gwB   = netip.MustParseAddr("172.19.0.1")
	ipC1  = netip.MustParseAddr("172.18.0.2")
	ipC2  = netip.MustParseAddr("172.18.0.3")
	ipC3  = netip.MustParseAddr("172.19.0.2")
	ipHst = netip.MustParseAddr("10.99.0.1")
	ipOut = netip.MustParseAddr("10.99.0.2")
	netA  = Network{Bridge: "br-a", Subnet: netip.MustParsePrefix("172.18.0.0/16"), ICC: true, Masquerade: true}
	netB  = Network{Bridge: "br-b", Subnet: netip.MustParsePrefix("172.19.0.0/16"), ICC: true, Masquerade: true}
)

func buildTopology(t *testing.T, tag string) *topology {
	t.Helper()
	var tp topology
	tp.host, _ = newNS(t, tag+"-host")
	tp.out, _ = newNS(t, tag+"-out")
	tp.c1, _ = newNS(t, tag+"-c1")
	tp.c2, _ = newNS(t, tag+"-c2")
	tp.c3, _ = newNS(t, tag+"-c3")
	h, err := netns.Handle(tp.host)
	must(t, err)
	defer h.Close()
	// Veths before namespaces when the test ends: deleting the bridge side
	// takes the peer along.
	t.Cleanup(func() {
		if h, err := netns.Handle(tp.host); err == nil {
			for _, name := range []string{"vc1", "vc2", "vc3", "vout", "br-a", "br-b"} {
				if l, err := h.LinkByName(name); err == nil {
					h.LinkDel(l)
				}
			}
			h.Close()
		}
	})
	bridge := func(name string, gw netip.Addr) int {
		la := netlink.NewLinkAttrs()
		la.Name = name
		br := &netlink.Bridge{LinkAttrs: la}
		must(t, h.LinkAdd(br))
		must(t, h.AddrAdd(br, &netlink.Addr{IPNet: ipnet(gw, 16)}))
		must(t, h.LinkSetUp(br))
		return br.Attrs().Index
	}
	brA, brB := bridge("br-a", gwA), bridge("br-b", gwB)
	tp.plug(t, h, "vc1", brA, tp.c1, ipC1, 16, gwA)
	tp.plug(t, h, "vc2", brA, tp.c2, ipC2, 16, gwA)
	tp.plug(t, h, "vc3", brB, tp.c3, ipC3, 16, gwB)
	tp.plug(t, h, "vout", 0, tp.out, ipOut, 24, netip.Addr{})
	vout, err := h.LinkByName("vout")
	must(t, err)
	must(t, h.AddrAdd(vout, &netlink.Addr{IPNet: ipnet(ipHst, 24)}))
	// Forwarding is the bridge driver's to turn on, as is bridged traffic
	// through the IPv4 hooks (br_netfilter), which ICC=false needs.
	must(t, netns.Do(tp.host, func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0); err != nil {
			return err
		}
		return os.WriteFile("/proc/sys/net/bridge/bridge-nf-call-iptables", []byte("1"), 0)
	}))
	return &tp
}

// plug joins the namespace at ns to the host by a veth, host side named
// hostName (on the bridge with index master, if any), other side eth0 with
// addr/bits, default route via gw when valid.
func (tp *topology) plug(t *testing.T, h *netlink.Handle, hostName string, master int, ns string, addr netip.Addr, bits int, gw netip.Addr) {
	t.Helper()
	fd, err := unix.Open(ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	must(t, err)
	defer unix.Close(fd)
	la := netlink.NewLinkAttrs()
	la.Name = hostName
	la.MasterIndex = master
	must(t, h.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "eth0", PeerNamespace: netlink.NsFd(fd)}))
	must(t, netns.SetUp(tp.host, hostName))
	ch, err := netns.Handle(ns)
	must(t, err)
	defer ch.Close()
	eth0, err := ch.LinkByName("eth0")
	must(t, err)
	must(t, ch.AddrAdd(eth0, &netlink.Addr{IPNet: ipnet(addr, bits)}))
	must(t, ch.LinkSetUp(eth0))
	if gw.IsValid() {
		must(t, ch.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: gw.AsSlice()}))
	}
}

func ipnet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, 32)}
}

// sourceSeen sends datagrams from the namespace at from to the server srv
// (listening in another namespace at to) until one arrives, and returns the
// source address it arrived with.
func sourceSeen(ctx context.Context, from string, srv *net.UDPConn, to netip.AddrPort) (netip.Addr, error) {
	c, err := probe.DialContext(ctx, from, "udp", to.String())
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	msg := fmt.Sprintf("from %s", from)
	buf := make([]byte, 256)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		c.Write([]byte(msg))
		srv.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		for {
			n, peer, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				break
			}
			if string(buf[:n]) == msg {
				return peer.Addr().Unmap(), nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("udp %s from %s: nothing arrived in 5s", to, from)
}
