package scenarios

import (
	"fmt"
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/nslab/nslab/labtest"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netimpl/gre"
)

// Seed 001, "overlay网络第三方实现-ovs", with Open vSwitch as the document
// builds it (fixtures/crosshost-ovs.yaml: both hosts run ovsdb-server and
// ovs-vswitchd, started by the lab in the host). On 102 (101 mirrors it,
// its bridge0 being docker0 with --bip 172.18.0.1/16 here):
//
//	ovs-vsctl add-br br0
//	ovs-vsctl add-port br0 gre0 -- set interface gre0 type=gre options:remote_ip=192.168.99.101
//	brctl addif docker0 br0
//	ip link set dev br0 up
//	ip link set dev docker0 up
//	ip route add 172.18.0.0/16 dev docker0
//
// typed as written where the kernel has Open vSwitch's datapath (the
// openvswitch module); here, without it, with two changes only, both for
// OVS's userspace datapath, the only one left (see ovsUnderlay):
//
//   - `-- set bridge br0 datapath_type=netdev` after add-br: without it the
//     bridge asks for the kernel datapath and gets no device;
//   - the underlay as OVS's "userspace tunneling" howto sets it up: eth1 a
//     port of an OVS bridge br-phy that holds the host's address, so that
//     ovs-vswitchd, which encapsulates GRE itself there, finds the route
//     and the neighbour to the remote end through the kernel.
//
// The seed's `service docker restart` / `docker start` steps restart its
// own daemon and containers; the containers here are started once.
var _ = Describe("[E19] a GRE tunnel of Open vSwitch joins the docker bridges of two hosts", Label("E19", "needs-ovs"), func() {
	itEachWayOwn("makes one L2 domain with ovs-vsctl and brctl as seed 001 types them: containers ping across, the underlay carries GRE", func(ctx SpecContext, way dockerWay) {
		requireOVS()
		l := UpLab("crosshost-ovs")
		d101, d102 := way(l, "host101"), way(l, "host102")
		By("via " + d101.Via())
		ns101, ns102 := ovsContainers(d101, d102)
		ovsSeed001(l, "host102", "192.168.99.102", "192.168.99.101", "172.18.0.0/16")
		ovsSeed001(l, "host101", "192.168.99.101", "192.168.99.102", "172.17.0.0/16")
		expectGREAcross(l, d102, ns101, ns102)
	})

	// OVS's GRE port and hostd's userspace gretap (`nslab gre`, E19's
	// other spec) speak the same protocol: a tunnel with OVS on 102 and the
	// gretap on 101 joins the two bridges as well.
	It("interoperates with hostd's userspace gretap on the other host", func(ctx SpecContext) {
		if current.Name() != lab.RuntimeHostd {
			Skip(fmt.Sprintf("nslab gre is hostd's; on %s the spec above covers Open vSwitch", current.Name()))
		}
		requireOVS()
		l := UpLab("crosshost-ovs")
		d101, d102 := API(l, "host101"), API(l, "host102")
		ns101, ns102 := ovsContainers(d101, d102)
		ovsSeed001(l, "host102", "192.168.99.102", "192.168.99.101", "172.18.0.0/16")
		By("101: nslab gre host101 add gre0 local 192.168.99.101 remote 192.168.99.102 bridge docker0; ip route add 172.17.0.0/16 dev docker0")
		name, impl := "gre0", gre.ImplUserspace
		if gre.KernelAvailable() {
			name, impl = "gre1", gre.ImplKernel // ip_gre's fallback device holds gre0
		}
		Expect(nslabCLI(l, "gre", "host101", "add", name, "local", "192.168.99.101", "remote", "192.168.99.102", "bridge", "docker0")).
			To(HaveSuffix(", " + impl + "\n"))
		l.Sh("host101", "ip route add 172.17.0.0/16 dev docker0")
		expectGREAcross(l, d102, ns101, ns102)
	}, NodeTimeout(specTimeout))
})

// requireOVS skips a spec where Open vSwitch is not installed.
func requireOVS() {
	if _, err := lab.FindOVS(); err != nil {
		Skip(fmt.Sprintf("needs-ovs: %v", err))
	}
}

// ovsContainers starts c101 on host101 (172.18.0.2) and c102 on host102
// (172.17.0.2) and returns their namespaces.
func ovsContainers(d101, d102 Docker) (ns101, ns102 string) {
	GinkgoHelper()
	MustRun(d101, Run{Name: "c101"})
	MustRun(d102, Run{Name: "c102"})
	ns101, ns102 = NetNSOf(d101, "c101"), NetNSOf(d102, "c102")
	Expect(LinkNamed(ns101, "eth0").Addrs).To(ConsistOf("172.18.0.2/16"))
	Expect(LinkNamed(ns102, "eth0").Addrs).To(ConsistOf("172.17.0.2/16"))
	return ns101, ns102
}

// ovsSeed001 types seed 001's OVS lines on host: as written where the
// kernel has Open vSwitch's datapath, else after the underlay that OVS's
// userspace tunnelling needs and with add-br asking for that datapath.
func ovsSeed001(l *Lab, host, local, remote, route string) {
	GinkgoHelper()
	addBr, kind := "ovs-vsctl add-br br0", "openvswitch"
	if !kernelOVS() {
		ovsUnderlay(l, host, local)
		addBr, kind = addBr+" -- set bridge br0 datapath_type=netdev", "tuntap"
	}
	By(host + ": " + addBr + "; add-port br0 gre0 type=gre remote_ip=" + remote + "; brctl addif docker0 br0; ip route add " + route + " dev docker0")
	l.Sh(host, addBr)
	l.Sh(host, "ovs-vsctl add-port br0 gre0 -- set interface gre0 type=gre options:remote_ip="+remote)
	l.Sh(host, "brctl addif docker0 br0")
	l.Sh(host, "ip link set dev br0 up")
	l.Sh(host, "ip link set dev docker0 up")
	l.Sh(host, "ip route add "+route+" dev docker0")

	ns := l.H(host).NetNS()
	br0 := LinkNamed(ns, "br0")
	// A bridge's own port is a device of the kernel's datapath, or, in
	// the userspace datapath, a tap that ovs-vswitchd reads.
	Expect(br0.Kind).To(Equal(kind))
	Expect(br0.Master).To(Equal("docker0"))
	show := l.Sh(host, "ovs-vsctl show")
	Expect(show).To(ContainSubstring("Port gre0"))
	Expect(show).To(ContainSubstring("type: gre"))
	Expect(show).To(ContainSubstring(`options: {remote_ip="` + remote + `"}`))
}

// kernelOVS says whether the kernel has Open vSwitch's datapath (the
// openvswitch module, loaded: nothing here loads one).
func kernelOVS() bool {
	_, err := os.Stat("/sys/module/openvswitch")
	return err == nil
}

// ovsUnderlay is OVS's documented userspace tunnelling setup (its
// "Userspace tunneling" howto): the underlay port eth1 joins an OVS
// bridge br-phy of the userspace datapath, which takes eth1's MAC and the
// host's address. ovs-vswitchd then looks up the route and the neighbour
// of the remote end in the kernel's tables through br-phy, pushes the GRE
// header itself and sends the packet out of eth1; what arrives for the
// tunnel on eth1 it pops. The howto's `iptables -F` is left out: nothing
// in a fresh host's INPUT filters GRE, and Docker's own rules must stay.
func ovsUnderlay(l *Lab, host, addr string) {
	GinkgoHelper()
	By(host + ": the underlay on OVS's br-phy (userspace tunnelling): eth1 its port, " + addr + " on br-phy")
	l.Sh(host, "ovs-vsctl add-br br-phy -- set bridge br-phy datapath_type=netdev fail-mode=standalone other_config:hwaddr=$(cat /sys/class/net/eth1/address)")
	l.Sh(host, "ovs-vsctl --timeout 10 add-port br-phy eth1")
	l.Sh(host, "ip addr add "+addr+"/24 dev br-phy")
	l.Sh(host, "ip link set br-phy up")
	l.Sh(host, "ip addr flush dev eth1")
	l.Sh(host, "ip link set eth1 up")
}

// expectGREAcross pings between the containers both ways, from inside
// them too, and requires GRE between the hosts' addresses on host101's
// eth1, carrying the containers' Ethernet frames, and nothing of them
// unencapsulated.
func expectGREAcross(l *Lab, d102 Docker, ns101, ns102 string) {
	GinkgoHelper()
	By("one L2 domain: the containers ping each other; the underlay carries GRE with their frames")
	capture := StartCapture(l.H("host101").NetNS(), "eth1")
	ExpectPing(ns102, "172.18.0.2")
	ExpectPing(ns101, "172.17.0.2")
	Expect(MustExec(d102, "c102", "ping", "-c", "1", "-W", "2", "172.18.0.2")).To(MatchRegexp(received))
	frames := StopCapture(capture)
	tunnelled := greFrames(frames)
	Expect(tunnelled).To(ContainElement(And(
		HaveField("Src", "192.168.99.102"), HaveField("Dst", "192.168.99.101"),
		HaveField("GRE.Protocol", uint16(gre.ProtoTEB)),
		HaveField("Inner.Src", "172.17.0.2"), HaveField("Inner.Dst", "172.18.0.2"), HaveField("Inner.ICMP", "EchoRequest"))))
	Expect(tunnelled).To(ContainElement(And(
		HaveField("Src", "192.168.99.101"), HaveField("Dst", "192.168.99.102"),
		HaveField("GRE.Protocol", uint16(gre.ProtoTEB)),
		HaveField("Inner.Src", "172.18.0.2"), HaveField("Inner.Dst", "172.17.0.2"), HaveField("Inner.ICMP", "EchoReply"))))
	Expect(frames).NotTo(ContainElement(HaveField("Src", HavePrefix("172."))), "container traffic on the underlay outside the tunnel")
}
