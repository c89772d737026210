package scenarios

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	. "github.com/nslab/nslab/labtest"
)

// Seed 003: "docker adds an additional network card ... to the container in
// the overlay network as a communication channel between the host and the
// container". With the first overlay endpoint a host gets the bridge
// network docker_gwbridge (the next free local pool: 172.18.0.0/16 beside
// docker0's 172.17), with Docker's options: no inter-container traffic
// (enable_icc=false) and masquerading on. Each overlay container gets eth1
// on it, with the default route; the overlay eth0 is not routed out.
var _ = Describe("[E22] docker_gwbridge gives overlay containers their way out", Label("E22"), func() {
	itEachWay2("adds eth1 on docker_gwbridge with the default route and outbound NAT; no traffic between containers through it", "overlay", [2]string{"node1", "node2"}, func(ctx SpecContext, l *Lab, d1, d2 Docker) {
		Expect(MustNetworkList(d1)).NotTo(ContainElement(HaveField("Name", "docker_gwbridge")), "docker_gwbridge before any overlay endpoint")

		By("docker network create -d overlay etcd_network; docker run -itd --name cm01 --network etcd_network alpine (node1), cm02 on node2")
		MustNetworkCreate(d1, NetworkCreate{Name: "etcd_network", Driver: "overlay"})
		Eventually(func() []NetworkRow { return MustNetworkList(d2) }, 10*time.Second, 100*time.Millisecond).Should(ContainElement(HaveField("Name", "etcd_network")))
		MustRun(d1, Run{Name: "cm01", Network: "etcd_network"})
		MustRun(d2, Run{Name: "cm02", Network: "etcd_network"})
		ns1 := NetNSOf(d1, "cm01")

		By("docker network ls / inspect docker_gwbridge (node1): a local bridge network with Docker's options, on 172.18.0.0/16")
		Expect(MustNetworkList(d1)).To(ContainElement(And(HaveField("Name", "docker_gwbridge"), HaveField("Driver", "bridge"), HaveField("Scope", "local"))))
		gw := MustNetworkInspect(d1, "docker_gwbridge")
		Expect(gw.Options).To(HaveKeyWithValue("com.docker.network.bridge.enable_icc", "false"))
		Expect(gw.Options).To(HaveKeyWithValue("com.docker.network.bridge.enable_ip_masquerade", "true"))
		Expect(gw.Options).To(HaveKeyWithValue("com.docker.network.bridge.name", "docker_gwbridge"))
		Expect(gw.IPAM.Config).To(HaveLen(1))
		Expect(gw.IPAM.Config[0].Subnet.String()).To(Equal("172.18.0.0/16"))
		Expect(LinkNamed(l.H("node1").NetNS(), "docker_gwbridge").Addrs).To(ConsistOf("172.18.0.1/16"))

		By("docker exec cm01 ip addr; ip route: eth0 on the overlay, eth1 on docker_gwbridge with the default route")
		Expect(LinkNames(ns1)).To(ConsistOf("lo", "eth0", "eth1"))
		Expect(LinkNamed(ns1, "eth0").Addrs).To(ConsistOf("10.0.0.2/24"))
		Expect(LinkNamed(ns1, "eth1").Addrs).To(ConsistOf("172.18.0.2/16"))
		routes := Routes(ns1, unix.RT_TABLE_MAIN)
		Expect(routes).To(ContainElement("default via 172.18.0.1 dev eth1"))
		Expect(routes).NotTo(ContainElement(HavePrefix("default via 10.0.0.1")))
		Expect(MustExec(d1, "cm01", "ip", "route")).To(ContainSubstring("default via 172.18.0.1 dev eth1"))

		By("iptables -t nat -S POSTROUTING (node1): docker_gwbridge's subnet is masqueraded")
		Expect(l.Sh("node1", "iptables -t nat -S POSTROUTING")).To(ContainSubstring("-A POSTROUTING -s 172.18.0.0/16 ! -o docker_gwbridge -j MASQUERADE"))

		By("docker exec cm01 ping 192.168.8.148 (node2's underlay address): out through eth1, NATed to node1's address")
		c := StartCapture(l.H("node2").NetNS(), "eth1")
		Expect(MustExec(d1, "cm01", "ping", "-c", "1", "-W", "2", "192.168.8.148")).To(MatchRegexp(received))
		frames := StopCapture(c)
		Expect(frames).To(ContainElement(And(HaveField("Src", "192.168.8.150"), HaveField("Dst", "192.168.8.148"), HaveField("ICMP", "EchoRequest"))))
		Expect(frames).NotTo(ContainElement(HaveField("Src", "172.18.0.2")), "the container's gwbridge address left node1 unNATed")
		holdsToChecksVia(l, d1, "E22")

		By("a second overlay container on node1 (cm03): reachable over the overlay, not through docker_gwbridge (icc off)")
		MustRun(d1, Run{Name: "cm03", Network: "etcd_network"})
		ns3 := NetNSOf(d1, "cm03")
		Expect(LinkNamed(ns3, "eth1").Addrs).To(ConsistOf("172.18.0.3/16"))
		ExpectPing(ns1, ipv4Of(ns3, "eth0").String())
		ExpectNoPing(ns1, "172.18.0.3")
		Observe(l, "E22", "overlay containers with docker_gwbridge")

		By("docker network disconnect etcd_network cm03: its eth1 goes with its last overlay endpoint")
		MustDo(d1, "network disconnect etcd_network cm03", func(ctx context.Context) error { return d1.NetworkDisconnect(ctx, "etcd_network", "cm03") })
		Expect(LinkNames(ns3)).To(ConsistOf("lo"))
	}, checksHere)
})
