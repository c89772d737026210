package scenarios

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	. "github.com/nslab/nslab/labtest"
)

// Seed 001, "其他跨主机容器互联方式 / 静态路由": host 192.168.99.101 has its
// containers on 172.18.0.0/16, host 192.168.99.102 on 172.17.0.0/16, and
// each gets a route to the other's container network through the other:
//
//	101主机：route add -net 172.17.0.0/16 gw 192.168.99.102
//	102主机：route add -net 172.18.0.0/16 gw 192.168.99.101
//
// (here .102 types the ip(8) equivalent, `ip route add 172.18.0.0/16 via
// 192.168.99.101`, so both tools are exercised).
//
// On Docker 20.10 the routes are not enough. dockerd, when it turns IPv4
// forwarding on (the hosts of the fixture boot with it off, as the
// document's do), sets the FORWARD policy to DROP, and FORWARD accepts
// only what leaves a docker bridge or answers a connection that did: a
// packet routed in from eth1 to docker0 falls through to the policy. The document (2019, Docker 19.03, same
// rules) does not say what its author added; on Docker 20.10 a student must
// let the routed traffic in, and the way Docker documents ("Docker on a
// router") is a rule in DOCKER-USER, which dockerd never touches:
//
//	iptables -I DOCKER-USER -i eth1 -o docker0 -j ACCEPT
//
// (`iptables -P FORWARD ACCEPT` works too, until dockerd restarts). And
// because docker0's MASQUERADE rule (`-s 172.17.0.0/16 ! -o docker0`)
// matches traffic that leaves through eth1, the far side sees the peer
// host's address, not the container's.
var _ = Describe("[E18] static routes between the hosts' container networks", Label("E18"), func() {
	// The seed's claim as it writes it: on hosts where forwarding was
	// already on when the daemon started (fixtures/crosshost-forwarding),
	// Docker leaves the FORWARD policy ACCEPT, and the two routes alone
	// join the containers of both hosts.
	It("with forwarding on before the daemon starts, the two routes alone let the containers of both hosts ping each other, as seed 001 says", func(ctx SpecContext) {
		l := UpLab("crosshost-forwarding")
		d101, d102 := CLI(l, "host101"), CLI(l, "host102")
		ns101, ns102 := crossHostPair(d101, d102)

		By("sysctl net.ipv4.ip_forward; iptables -S FORWARD (both hosts): forwarding on, the policy left ACCEPT")
		for _, h := range []string{"host101", "host102"} {
			Expect(l.Sh(h, "sysctl -n net.ipv4.ip_forward")).To(Equal("1\n"), "on %s", h)
			Expect(l.Sh(h, "iptables -S FORWARD")).To(HavePrefix("-P FORWARD ACCEPT\n"), "on %s", h)
			Expect(l.Sh(h, "iptables -S FORWARD")).To(ContainSubstring("-A FORWARD -j DOCKER-USER"), "Docker's rules are there all the same, on %s", h)
		}
		By("without the routes the containers cannot reach each other")
		ExpectSilent(NoPing(ns101, "172.17.0.2"), NoPing(ns102, "172.18.0.2"))

		By("101: route add -net 172.17.0.0/16 gw 192.168.99.102; 102: ip route add 172.18.0.0/16 via 192.168.99.101; nothing else")
		e18Routes(l)
		frames := e18PingAcross(l, ns101, ns102, d101, "c101", "172.17.0.2")
		Expect(frames).To(ContainElement(And(
			HaveField("Dst", "172.18.0.2"), HaveField("ICMP", "EchoRequest"))), "routed on the wire, not encapsulated")

		e18RouteDel(l, ns101)
	}, NodeTimeout(specTimeout))

	itEachWay2("containers of 172.18/16 (on .101) and 172.17/16 (on .102) ping each other through `route add -net ... gw <peer>`, and not without it", "crosshost", [2]string{"host101", "host102"}, func(ctx SpecContext, l *Lab, d101, d102 Docker) {
		failsChecksVia(l, d101, "E18")
		h101, h102 := l.H("host101").NetNS(), l.H("host102").NetNS()
		ns101, ns102 := crossHostPair(d101, d102)

		By("each host's containers are on its own docker0 subnet")
		Expect(LinkNamed(h101, "docker0").Addrs).To(ConsistOf("172.18.0.1/16"))
		Expect(LinkNamed(h102, "docker0").Addrs).To(ConsistOf("172.17.0.1/16"))
		Expect(LinkNamed(ns101, "eth0").Addrs).To(ConsistOf("172.18.0.2/16"))
		Expect(LinkNamed(ns102, "eth0").Addrs).To(ConsistOf("172.17.0.2/16"))

		By("without the routes the containers cannot reach each other")
		ExpectSilent(NoPing(ns101, "172.17.0.2"), NoPing(ns102, "172.18.0.2"))

		By("101: route add -net 172.17.0.0/16 gw 192.168.99.102; 102: ip route add 172.18.0.0/16 via 192.168.99.101")
		e18Routes(l)
		Expect(Routes(h101, unix.RT_TABLE_MAIN)).To(ContainElement("172.17.0.0/16 via 192.168.99.102 dev eth1"))
		Expect(Routes(h102, unix.RT_TABLE_MAIN)).To(ContainElement("172.18.0.0/16 via 192.168.99.101 dev eth1"))
		Expect(l.Sh("host101", "route -n")).To(MatchRegexp(`(?m)^172\.17\.0\.0\s+192\.168\.99\.102\s+255\.255\.0\.0\s+UG\s.*\beth1$`))

		By("Docker 20.10's FORWARD policy DROP still stops the routed traffic into docker0")
		for _, h := range []string{"host101", "host102"} {
			Expect(l.Sh(h, "sysctl -n net.ipv4.ip_forward")).To(Equal("1\n"), "the daemon turned forwarding on, on %s", h)
			Expect(l.Sh(h, "iptables -S FORWARD")).To(HavePrefix("-P FORWARD DROP\n"), "on %s", h)
			Expect(l.Sh(h, "iptables -S DOCKER-USER")).To(ContainSubstring("-A DOCKER-USER -j RETURN"), "on %s", h)
		}
		ExpectSilent(NoPing(ns101, "172.17.0.2"), NoPing(ns102, "172.18.0.2"))

		By("what a student adds on Docker 20.10: iptables -I DOCKER-USER -i eth1 -o docker0 -j ACCEPT, on both hosts")
		e18Accept(l)
		frames := e18PingAcross(l, ns101, ns102, d102, "c102", "172.18.0.2")

		By("on the wire: routed, not encapsulated, and masqueraded to the peer host's address")
		Expect(frames).To(ContainElement(And(
			HaveField("Src", "192.168.99.102"), HaveField("Dst", "172.18.0.2"), HaveField("Proto", 1), HaveField("ICMP", "EchoRequest"))))
		Expect(frames).To(ContainElement(And(
			HaveField("Src", "192.168.99.101"), HaveField("Dst", "172.17.0.2"), HaveField("ICMP", "EchoRequest"))))
		// No request leaves with a container's address; the replies come
		// from the containers themselves, the original destinations.
		Expect(frames).NotTo(ContainElement(And(HaveField("ICMP", "EchoRequest"), HaveField("Src", HavePrefix("172.")))))
		Expect(frames).To(ContainElement(And(
			HaveField("Src", "172.18.0.2"), HaveField("Dst", "192.168.99.102"), HaveField("ICMP", "EchoReply"))))
		holdsToChecksVia(l, d101, "E18")

		e18RouteDel(l, ns101)
		Expect(Routes(h101, unix.RT_TABLE_MAIN)).NotTo(ContainElement(HavePrefix("172.17.0.0/16 ")))
	}, checksHere)
})

// crossHostPair runs c101 on host101 and c102 on host102, each on its
// host's docker0, and returns their namespaces.
func crossHostPair(d101, d102 Docker) (ns101, ns102 string) {
	GinkgoHelper()
	MustRun(d101, Run{Name: "c101"})
	MustRun(d102, Run{Name: "c102"})
	return NetNSOf(d101, "c101"), NetNSOf(d102, "c102")
}

// e18Routes types seed 001's routes, each host's to the other's containers.
func e18Routes(l *Lab) {
	GinkgoHelper()
	l.Sh("host101", "route add -net 172.17.0.0/16 gw 192.168.99.102")
	l.Sh("host102", "ip route add 172.18.0.0/16 via 192.168.99.101")
}

// e18PingAcross has the containers of both hosts ping each other, the one
// named ctr again by `docker exec ctr ping peer` as a student types it,
// and returns the frames host101's eth1 carried meanwhile.
func e18PingAcross(l *Lab, ns101, ns102 string, d Docker, ctr, peer string) []Frame {
	GinkgoHelper()
	c := StartCapture(l.H("host101").NetNS(), "eth1")
	ExpectPing(ns102, "172.18.0.2")
	ExpectPing(ns101, "172.17.0.2")
	Expect(MustExec(d, ctr, "ping", "-c", "1", "-W", "2", peer)).To(MatchRegexp(received))
	return StopCapture(c)
}

// e18RouteDel deletes .101's route to .102's containers again, as the
// student typed it: .101's container cannot reach them any more.
func e18RouteDel(l *Lab, ns101 string) {
	GinkgoHelper()
	By("without the route again, .101's container cannot reach .102's")
	l.Sh("host101", "route del -net 172.17.0.0/16 gw 192.168.99.102")
	ExpectNoPing(ns101, "172.17.0.2")
}

// e18Accept is what a student adds on Docker 20.10, whose FORWARD policy
// drops what is routed into docker0: an accept in DOCKER-USER, both hosts.
func e18Accept(l *Lab) {
	GinkgoHelper()
	for _, h := range []string{"host101", "host102"} {
		l.Sh(h, "iptables -I DOCKER-USER -i eth1 -o docker0 -j ACCEPT")
	}
}
