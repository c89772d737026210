package scenarios

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	. "github.com/nslab/nslab/labtest"
)

// Seed 000, "将容器切换网桥" (and 001's `docker network connect`): cm04 runs
// on br1; `docker network disconnect bridge cm01` takes cm01 off docker0 and
// `docker network connect br1 cm01` puts it on br1; `docker network inspect
// br1` then lists both. What Docker 20.10 does, observed: after the
// disconnect cm01 has lo only and no route; the connect adds eth1 (libnetwork
// never reuses an interface index in a sandbox) with 172.18.0.3/16 and the
// default route via 172.18.0.1; cm01 reaches cm04 and no longer cm02.
var _ = Describe("[E06] run --network br1, then network disconnect bridge cm01 / connect br1 cm01", Label("E06"), func() {
	itEachWay("changes cm01's interfaces and addresses as Docker does, and reachability follows membership", "single", "host1", func(ctx SpecContext, l *Lab, d Docker) {
		host := l.H("host1").NetNS()
		ns1, ns2 := defaultBridgePair(d)
		ExpectPing(ns1, "172.17.0.3")

		By("docker network create -d bridge br1; docker run -itd --name cm04 --network br1 alpine")
		br := "br-" + e06Br1(d)[:12]
		ns4 := NetNSOf(d, "cm04")
		Expect(LinkNames(ns4)).To(ConsistOf("lo", "eth0"))
		eth0of4 := LinkNamed(ns4, "eth0")
		Expect(eth0of4.Addrs).To(ConsistOf("172.18.0.2/16"))
		Expect(eth0of4.MAC).To(Equal("02:42:ac:12:00:02"))
		Expect(Routes(ns4, unix.RT_TABLE_MAIN)).To(ConsistOf("default via 172.18.0.1 dev eth0", "172.18.0.0/16 dev eth0"))
		Expect(MustExec(d, "cm04", "ip", "a")).To(ContainSubstring("inet 172.18.0.2/16"))
		By("新的br上增加了一个interface: br1's bridge got cm04's port")
		Expect(BridgePorts(host, br)).To(ConsistOf(PortOf(host, br, eth0of4)))
		cm02port := PortOf(host, "docker0", LinkNamed(ns2, "eth0"))

		By("docker network disconnect bridge cm01: cm01 keeps lo only, with no route")
		e06Disconnect(d)
		Expect(Links(ns1)).To(ConsistOf(HaveField("Name", "lo")))
		Expect(Routes(ns1, unix.RT_TABLE_MAIN)).To(BeEmpty())
		Expect(BridgePorts(host, "docker0")).To(ConsistOf(cm02port), "only cm02 is left on docker0")
		Expect(MustNetworkInspect(d, "bridge").Containers).To(ConsistOf(HaveField("Name", "cm02")))

		By("docker network connect br1 cm01: cm01 gets eth1 on 172.18.0.0/16 and the default route via 172.18.0.1")
		e06Connect(d)
		Expect(LinkNames(ns1)).To(ConsistOf("lo", "eth1"))
		eth1of1 := LinkNamed(ns1, "eth1")
		Expect(eth1of1.Kind).To(Equal("veth"))
		Expect(eth1of1.Up).To(BeTrue())
		Expect(eth1of1.Addrs).To(ConsistOf("172.18.0.3/16"))
		Expect(eth1of1.MAC).To(Equal("02:42:ac:12:00:03"))
		Expect(Routes(ns1, unix.RT_TABLE_MAIN)).To(ConsistOf("default via 172.18.0.1 dev eth1", "172.18.0.0/16 dev eth1"))
		Expect(BridgePorts(host, br)).To(ConsistOf(PortOf(host, br, eth0of4), PortOf(host, br, eth1of1)))
		Expect(BridgePorts(host, "docker0")).To(ConsistOf(cm02port))

		By("docker network inspect br1 lists both containers with their kernel addresses and MACs")
		n := MustNetworkInspect(d, "br1")
		var got []string
		for _, ep := range n.Containers {
			got = append(got, ep.Name+" "+ep.IPv4Address.String()+" "+ep.MacAddress.String())
		}
		Expect(got).To(ConsistOf(
			"cm04 "+eth0of4.Addrs[0]+" "+eth0of4.MAC,
			"cm01 "+eth1of1.Addrs[0]+" "+eth1of1.MAC))

		By("reachability follows membership: cm01 and cm04 ping each other; cm02 on docker0 is out of cm01's reach")
		ExpectPing(ns1, "172.18.0.2")
		ExpectPing(ns4, "172.18.0.3")
		Expect(MustExec(d, "cm01", "ping", "-c", "1", "-W", "2", "172.18.0.2")).To(MatchRegexp(received))
		// Docker's DOCKER-ISOLATION chains drop what a host routes from
		// one bridge network to another.
		ExpectNoPing(ns1, "172.17.0.3")
		holdsToChecksVia(l, d, "E06")
	}, checksHere)
})

// e06Br1 creates br1 and runs cm04 on it; it returns br1's id.
func e06Br1(d Docker) string {
	GinkgoHelper()
	id := MustNetworkCreate(d, NetworkCreate{Name: "br1", Driver: "bridge"})
	MustRun(d, Run{Name: "cm04", Network: "br1"})
	return id
}

// e06Disconnect is `docker network disconnect bridge cm01`.
func e06Disconnect(d Docker) {
	GinkgoHelper()
	MustDo(d, "network disconnect bridge cm01", func(ctx context.Context) error {
		return d.NetworkDisconnect(ctx, "bridge", "cm01")
	})
}

// e06Connect is `docker network connect br1 cm01`.
func e06Connect(d Docker) {
	GinkgoHelper()
	MustDo(d, "network connect br1 cm01", func(ctx context.Context) error {
		return d.NetworkConnect(ctx, "br1", "cm01")
	})
}
