package scenarios

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	. "github.com/nslab/nslab/labtest"
)

// Seed 004's table of contents, "实例:创建一个点到点连接" (Docker's classic
// "Building a point-to-point connection"): two --net=none containers, one
// veth pair with an end in each, /32 addresses and a host route to the
// peer; no bridge and no subnet. The document types, for pids $p1 and $p2:
//
//	ln -s /proc/$p1/ns/net /var/run/netns/$p1 (and $p2)
//	ip link add A type veth peer name B
//	ip link set A netns $p1; ip netns exec $p1 ip addr add 10.1.1.1/32 dev A
//	ip netns exec $p1 ip link set A up; ip netns exec $p1 ip route add 10.1.1.2/32 dev A
//	ip link set B netns $p2; ip netns exec $p2 ip addr add 10.1.1.2/32 dev B
//	ip netns exec $p2 ip link set B up; ip netns exec $p2 ip route add 10.1.1.1/32 dev B
//
// typed as written in host1, whose /var/run/netns is its own, as in E14.
var _ = Describe("[E15] a point-to-point link between two containers", Label("E15"), func() {
	itEachWay("pings across the link, with /32 addresses and host routes and no bridge", "single", "host1", func(ctx SpecContext, l *Lab, d Docker) {
		host := l.H("host1").NetNS()
		runAll(d, e15Runs)
		docker0Ports := BridgePorts(host, "docker0")

		By("the document's commands, typed in host1")
		e15Link(l, d)

		By("the kernel: A and B are one veth pair, an end in each container, /32 and a route to the peer")
		ns1, ns2 := NetNSOf(d, "p2p1"), NetNSOf(d, "p2p2")
		Expect(LinkNames(ns1)).To(ConsistOf("lo", "A"))
		Expect(LinkNames(ns2)).To(ConsistOf("lo", "B"))
		a, b := LinkNamed(ns1, "A"), LinkNamed(ns2, "B")
		Expect(a.PairedWith(b)).To(BeTrue(), "A %+v and B %+v must be the two ends of one pair", a, b)
		Expect(a.Up).To(BeTrue())
		Expect(b.Up).To(BeTrue())
		Expect(a.Addrs).To(ConsistOf("10.1.1.1/32"))
		Expect(b.Addrs).To(ConsistOf("10.1.1.2/32"))
		Expect(Routes(ns1, unix.RT_TABLE_MAIN)).To(ConsistOf("10.1.1.2/32 dev A"))
		Expect(Routes(ns2, unix.RT_TABLE_MAIN)).To(ConsistOf("10.1.1.1/32 dev B"))

		By("no bridge is involved: neither end has a master, and host1 holds neither end nor a new port")
		Expect(a.Master).To(BeEmpty())
		Expect(b.Master).To(BeEmpty())
		for _, ns := range []string{ns1, ns2} {
			Expect(Links(ns)).NotTo(ContainElement(HaveField("Kind", "bridge")))
		}
		Expect(LinkNames(host)).NotTo(ContainElement("A"))
		Expect(LinkNames(host)).NotTo(ContainElement("B"))
		Expect(BridgePorts(host, "docker0")).To(Equal(docker0Ports))

		By("the two containers ping each other across the link")
		ExpectPing(ns1, "10.1.1.2")
		ExpectPing(ns2, "10.1.1.1")
		Expect(MustExec(d, "p2p1", "ping", "-c", "1", "-W", "2", "10.1.1.2")).To(MatchRegexp(received))
		holdsToChecksVia(l, d, "E15")
	}, checksHere)
})

// e15Runs are the two containers without a network.
var e15Runs = []Run{{Name: "p2p1", Network: "none"}, {Name: "p2p2", Network: "none"}}

// e15Link types seed 004's point-to-point commands in host1: a veth pair
// A/B, an end in each container, /32 addresses and a route to the peer.
func e15Link(l *Lab, d Docker) {
	GinkgoHelper()
	_, p1 := pinTyped(l, d, "p2p1")
	_, p2 := pinTyped(l, d, "p2p2")
	l.Sh("host1", "ip link add A type veth peer name B")
	l.Sh("host1", "ip link set A netns "+p1)
	l.Sh("host1", "ip netns exec "+p1+" ip addr add 10.1.1.1/32 dev A")
	l.Sh("host1", "ip netns exec "+p1+" ip link set A up")
	l.Sh("host1", "ip netns exec "+p1+" ip route add 10.1.1.2/32 dev A")
	l.Sh("host1", "ip link set B netns "+p2)
	l.Sh("host1", "ip netns exec "+p2+" ip addr add 10.1.1.2/32 dev B")
	l.Sh("host1", "ip netns exec "+p2+" ip link set B up")
	l.Sh("host1", "ip netns exec "+p2+" ip route add 10.1.1.1/32 dev B")
}
