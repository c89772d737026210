package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	. "github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netimpl/gre"
	"github.com/nslab/nslab/netns/probe"
)

// Seed 001, "overlay网络第三方实现-ovs": the docker bridges of hosts
// 192.168.99.102 (docker0, 172.17.0.0/16) and 192.168.99.101 (172.18.0.0/16;
// the document's bridge0, docker0 with --bip here) become one L2 domain
// through a GRE tunnel, and each host routes the other's container network
// onto its own bridge. The document, on 102 (101 mirrors it):
//
//	ovs-vsctl add-br br0
//	ovs-vsctl add-port br0 gre0 -- set interface gre0 type=gre options:remote_ip=192.168.99.101
//	brctl addif docker0 br0
//	ip link set dev br0 up
//	ip link set dev docker0 up
//	ip route add 172.18.0.0/16 dev docker0
//
// An OVS port of type gre carries Ethernet frames in GRE (protocol 0x6558,
// Transparent Ethernet Bridging): a gretap. Open vSwitch is not needed for
// it: its bridge br0 only joins the port to docker0, which the tunnel can
// join itself. So the first four lines are one:
//
//	nslab gre host102 add gre0 local 192.168.99.102 remote 192.168.99.101 bridge docker0
//
// which mirrors `ip link add gre0 type gretap local ... remote ...; ip link
// set gre0 master docker0 up`. hostd makes it with the kernel's gretap where
// the kernel has one, else with its userspace gretap (this machine).
//
// MTU: the underlay is 1500, so the tunnel gets 1462 (1500 - 20 IPv4 - 4
// GRE - 14 inner Ethernet), and docker0, once the tunnel is its port, 1462
// too. The containers' eth0 stay 1500 unless told otherwise, and a bridge
// drops frames larger than the port they leave by, without an ICMP error:
// full-size packets between the containers would vanish in the tunnel. The
// specs therefore give the containers the tunnel's MTU, which is what
// dockerd's --mtu 1462 does (hostd has no such flag): `nsenter -t PID -n
// ip link set dev eth0 mtu 1462` from the host. A full-size ping and a TCP
// transfer then cross, the first as a 1500-byte GRE packet on the underlay.
var _ = Describe("[E19] a GRE tunnel joins the docker bridges of two hosts", Label("E19"), func() {
	itEachWayOwn("makes one L2 domain: containers of 172.17/16 and 172.18/16 ping each other, and the underlay carries IP protocol 47 with Ethernet inside", func(ctx SpecContext, way dockerWay) {
		if current.Name() != "hostd" {
			Skip(fmt.Sprintf("nslab gre is hostd's (on %s, the kernel-path spec makes the tunnel with ip link)", current.Name()))
		}
		l := UpLab("crosshost")
		name, impl := nslabGRE()
		_, ns102 := e19(l, way, name, impl, nslabGREAdd(l, name, impl))
		holdsToChecksVia(l, way(l, "host101"), "E19")

		By("nslab gre ls and nslab inspect report the tunnel and its implementation")
		Expect(nslabCLI(l, "gre", "host102", "ls")).To(MatchRegexp(`(?m)^%s\s+192\.168\.99\.102\s+192\.168\.99\.101\s+-\s+false\s+docker0\s+1462\s+%s\s+[1-9]\d*\s+[1-9]\d*$`, name, impl))
		var h struct {
			Tunnels []struct{ Name, Impl, Bridge string }
		}
		Expect(json.Unmarshal([]byte(nslabCLI(l, "inspect", "host101")), &h)).To(Succeed())
		Expect(h.Tunnels).To(ConsistOf(And(HaveField("Name", name), HaveField("Impl", impl), HaveField("Bridge", "docker0"))))

		By("nslab gre host101 del " + name + ": the link goes, and the two bridges are apart again")
		nslabCLI(l, "gre", "host101", "del", name)
		Expect(LinkNames(l.H("host101").NetNS())).NotTo(ContainElement(name))
		ExpectNoPing(ns102, "172.18.0.2")
	}, checksHere)

	// The kernel's gretap, made as a student types it with iproute2 where
	// the kernel has GRE: the same picture on the wire. It runs on any
	// runtime (dockerd too), and holds the lab to E19's checks file: on
	// dockerd, where the spec of nslab gre (hostd's) skips, only this one
	// runs it. Here the kernel has no GRE module: skipped.
	It("does the same with the kernel's gretap made by ip link", Label("needs-gretap", LabelChecks), func(ctx SpecContext) {
		if err := gre.KernelProbe(); err != nil {
			Skip(fmt.Sprintf("the kernel has no gretap: %v", err))
		}
		l := UpLab("crosshost")
		// gre0 is ip_gre's fallback device in every namespace.
		e19(l, CLI, "gtap0", gre.ImplKernel, func(host, local, remote string) {
			l.Sh(host, fmt.Sprintf("ip link add gtap0 type gretap local %s remote %s", local, remote))
			l.Sh(host, "ip link set gtap0 master docker0")
			l.Sh(host, "ip link set gtap0 up")
			Expect(LinkNamed(l.H(host).NetNS(), "gtap0").Kind).To(Equal("gretap"))
		})
		holdsToChecks(l, "E19")
	}, NodeTimeout(specTimeout))
})

// e19 runs the exercise on the crosshost lab: containers on both hosts, the
// document's routes, then the tunnel called name (made by tunnel on each
// host, carried by impl), the MTU, pings, a capture of the underlay and a
// TCP transfer. It returns the containers' namespaces.
func e19(l *Lab, way func(*Lab, string) Docker, name, impl string, tunnel func(host, local, remote string)) (ns101, ns102 string) {
	GinkgoHelper()
	d101, d102 := way(l, "host101"), way(l, "host102")
	By(fmt.Sprintf("via %s, tunnel %s (%s)", d101.Via(), name, impl))
	h101, h102 := l.H("host101").NetNS(), l.H("host102").NetNS()
	ns101, ns102 = crossHostPair(d101, d102)
	Expect(LinkNamed(ns101, "eth0").Addrs).To(ConsistOf("172.18.0.2/16"))
	Expect(LinkNamed(ns102, "eth0").Addrs).To(ConsistOf("172.17.0.2/16"))

	By("102: ip route add 172.18.0.0/16 dev docker0; 101: ip route add 172.17.0.0/16 dev docker0")
	l.Sh("host102", "ip route add 172.18.0.0/16 dev docker0")
	l.Sh("host101", "ip route add 172.17.0.0/16 dev docker0")
	Expect(Routes(h102, unix.RT_TABLE_MAIN)).To(ContainElement("172.18.0.0/16 dev docker0"))
	Expect(Routes(h101, unix.RT_TABLE_MAIN)).To(ContainElement("172.17.0.0/16 dev docker0"))

	By("without the tunnel the routes lead nowhere: docker0 of 102 has nobody at 172.18.0.2")
	ExpectNoPing(ns102, "172.18.0.2")

	By("the tunnel on both hosts, joined to docker0")
	tunnel("host102", "192.168.99.102", "192.168.99.101")
	tunnel("host101", "192.168.99.101", "192.168.99.102")
	for _, h := range []string{"host101", "host102"} {
		link := LinkNamed(l.H(h).NetNS(), name)
		Expect(link.Master).To(Equal("docker0"))
		Expect(link.Up).To(BeTrue())
		Expect(l.Sh(h, "ip -o link show "+name)).To(ContainSubstring(" mtu 1462 "))
		Expect(l.Sh(h, "ip -o link show docker0")).To(ContainSubstring(" mtu 1462 "))
	}

	By("the containers get the tunnel's MTU, as dockerd --mtu 1462 gives it")
	for _, c := range []struct {
		host string
		d    Docker
		name string
	}{{"host101", d101, "c101"}, {"host102", d102, "c102"}} {
		l.Sh(c.host, fmt.Sprintf("nsenter -t %d -n ip link set dev eth0 mtu 1462", PidOf(c.d, c.name)))
	}

	By("one L2 domain: the containers ping each other; the underlay carries GRE with their Ethernet frames")
	capture := StartCapture(h101, "eth1")
	ExpectPing(ns102, "172.18.0.2")
	ExpectPing(ns101, "172.17.0.2")
	// 1434 bytes of data: a 1462-byte IP packet, the largest that fits.
	Expect(MustExec(d102, "c102", "ping", "-c", "1", "-W", "2", "-s", "1434", "172.18.0.2")).To(MatchRegexp(received))
	frames := StopCapture(capture)
	tunnelled := greFrames(frames)
	Expect(tunnelled).To(ContainElement(And(
		HaveField("Src", "192.168.99.102"), HaveField("Dst", "192.168.99.101"),
		HaveField("GRE.Protocol", uint16(gre.ProtoTEB)), HaveField("GRE.Key", BeNil()), HaveField("GRE.Checksum", false),
		HaveField("Inner.Src", "172.17.0.2"), HaveField("Inner.Dst", "172.18.0.2"), HaveField("Inner.ICMP", "EchoRequest"))))
	Expect(tunnelled).To(ContainElement(And(
		HaveField("Src", "192.168.99.101"), HaveField("Dst", "192.168.99.102"),
		HaveField("Inner.Src", "172.18.0.2"), HaveField("Inner.Dst", "172.17.0.2"), HaveField("Inner.ICMP", "EchoReply"))))
	// The full-size ping: 1462 inside, exactly the underlay's 1500 outside.
	Expect(tunnelled).To(ContainElement(And(
		HaveField("TotalLen", 1500), HaveField("Inner.TotalLen", 1462), HaveField("Inner.Src", "172.17.0.2"))))
	// Nothing of the containers crosses the underlay unencapsulated.
	Expect(frames).NotTo(ContainElement(HaveField("Src", HavePrefix("172."))))

	By("TCP between the containers: 1 MiB in full-size segments")
	ExpectTCPTransfer(ns102, ns101, "172.18.0.2:5201", 1<<20)
	return ns101, ns102
}

// greFrames keeps the frames that carry GRE.
func greFrames(frames []Frame) []Frame {
	var out []Frame
	for _, f := range frames {
		if f.Proto == gre.IPProtoGRE && f.GRE != nil {
			out = append(out, f)
		}
	}
	return out
}

// nslabCLI runs the nslab command line against the spec's lab, as a user
// types `nslab --lab ID ARGS...` on the machine; it must exit 0. It returns
// the standard output.
func nslabCLI(l *Lab, args ...string) string {
	GinkgoHelper()
	bin := os.Getenv("NSLAB_BIN")
	if n, ok := current.(Native); ok && n.Binary != "" {
		bin = n.Binary
	}
	Expect(bin).NotTo(BeEmpty(), "the nslab binary: set NSLAB_BIN")
	ctx, cancel := contextWithTimeout()
	defer cancel()
	argv := append([]string{"--root", filepath.Dir(l.StateDir()), "--lab", l.ID()}, args...)
	cmd := exec.CommandContext(ctx, bin, argv...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	Expect(err).NotTo(HaveOccurred(), "nslab %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), out.String(), errb.String())
	return out.String()
}

// acceptOne listens on addr in the namespace ns and hands over what the
// first connection to it sends, up to its end or for 10 s (nil when the
// accept fails); stop closes the listener.
func acceptOne(ns, addr string) (got <-chan []byte, stop func()) {
	GinkgoHelper()
	ln, err := probe.ListenTCP(ns, addr)
	Expect(err).NotTo(HaveOccurred())
	ch := make(chan []byte, 1)
	go func() {
		defer GinkgoRecover()
		c, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		ch <- b
	}()
	return ch, func() { ln.Close() }
}

// ExpectTCPTransfer sends n bytes over TCP from the namespace src to addr,
// served by a listener in the namespace dst, and requires all of them to
// arrive within 10 s.
func ExpectTCPTransfer(src, dst, addr string, n int) {
	GinkgoHelper()
	got, stop := acceptOne(dst, addr)
	defer stop()
	ctx, cancel := context.WithTimeout(NodeContext(), 10*time.Second)
	defer cancel()
	c, err := probe.DialContext(ctx, src, "tcp", netip.MustParseAddrPort(addr).String())
	Expect(err).NotTo(HaveOccurred())
	c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Write(make([]byte, n))
	Expect(err).NotTo(HaveOccurred(), "send %d bytes to %s", n, addr)
	Expect(c.Close()).To(Succeed())
	select {
	case b := <-got:
		Expect(b).To(HaveLen(n), "bytes received at %s", addr)
	case <-ctx.Done():
		Fail(fmt.Sprintf("TCP to %s: %v", addr, errors.Join(ctx.Err(), errors.New("the receiver did not see the end of the stream"))))
	}
}

// nslabGRE names the tunnel `nslab gre` makes and says how: the kernel's
// gretap where there is one, else hostd's userspace one. Where the kernel
// has GRE, its ip_gre module puts a fallback device called gre0 in every
// namespace, so the name is taken.
func nslabGRE() (name, impl string) {
	if gre.KernelAvailable() {
		return "gre1", gre.ImplKernel
	}
	return "gre0", gre.ImplUserspace
}

// nslabGREAdd is e19's tunnel step done with `nslab gre HOST add`.
func nslabGREAdd(l *Lab, name, impl string) func(host, local, remote string) {
	return func(host, local, remote string) {
		GinkgoHelper()
		out := nslabCLI(l, "gre", host, "add", name, "local", local, "remote", remote, "bridge", "docker0")
		Expect(out).To(Equal(fmt.Sprintf("%s: gretap local %s remote %s, bridge docker0, mtu 1462, %s\n", name, local, remote, impl)))
	}
}
