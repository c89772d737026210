package scenarios

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/nslab/nslab/labtest"
)

// Seeds 000 and 001: `docker network ls` lists the three networks Docker
// makes at start, and `docker network inspect` shows the default bridge's
// subnet and its containers. The expected values are real Docker 20.10's
// (fixtures/docker-20.10/network-ls.txt, net-bridge.json).
var _ = Describe("[E04] the default networks bridge, host and none", Label("E04"), func() {
	itEachWay("lists bridge, host and none, and inspect shows bridge's subnet and containers as the kernel has them", "single", "host1", func(ctx SpecContext, l *Lab, d Docker) {
		ns1, ns2 := defaultBridgePair(d)
		host := l.H("host1").NetNS()

		By("docker network ls: bridge/bridge, host/host, none/null, all local")
		Expect(networkTable(d)).To(ConsistOf("bridge bridge local", "host host local", "none null local"))
		for _, r := range MustNetworkList(d) {
			// The table prints the 12-hex short id; the API the full one.
			Expect(r.ID).To(MatchRegexp(`^[0-9a-f]{12}([0-9a-f]{52})?$`), "id of %s", r.Name)
			By("docker network inspect " + r.ID + ", as seed 000 does it by id")
			n := MustNetworkInspect(d, r.ID)
			Expect(n.Name).To(Equal(r.Name))
			Expect(n.ID).To(HavePrefix(r.ID))
			Expect(n.ID).To(MatchRegexp(`^[0-9a-f]{64}$`))
			Expect(n.Driver).To(Equal(r.Driver))
			Expect(n.Scope).To(Equal("local"))
		}

		By("docker network inspect bridge: subnet 172.17.0.0/16 on docker0, whose address is the gateway")
		n := MustNetworkInspect(d, "bridge")
		Expect(n.Name).To(Equal("bridge"))
		Expect(n.Driver).To(Equal("bridge"))
		Expect(n.Scope).To(Equal("local"))
		Expect(n.Internal).To(BeFalse())
		Expect(n.IPAM.Driver).To(Equal("default"))
		Expect(n.IPAM.Config).To(HaveLen(1))
		Expect(n.IPAM.Config[0].Subnet.String()).To(Equal("172.17.0.0/16"))
		// dockerd lists no IPAM gateway for a docker0 it created itself
		// (fixtures/docker-20.10/net-bridge.json; it shows one only with
		// --bip or a docker0 that existed before it started); the
		// gateway is docker0's own address, and eth0's default route.
		Expect(n.IPAM.Config[0].Gateway.IsValid()).To(BeFalse(),
			"Docker 20.10 shows no IPAM Gateway for the docker0 it made; got %s", n.IPAM.Config[0].Gateway)
		Expect(LinkNamed(host, "docker0").Addrs).To(ConsistOf("172.17.0.1/16"))
		Expect(n.Options).To(Equal(map[string]string{
			"com.docker.network.bridge.default_bridge":       "true",
			"com.docker.network.bridge.enable_icc":           "true",
			"com.docker.network.bridge.enable_ip_masquerade": "true",
			"com.docker.network.bridge.host_binding_ipv4":    "0.0.0.0",
			"com.docker.network.bridge.name":                 "docker0",
			"com.docker.network.driver.mtu":                  "1500",
		}))

		By("its containers are cm01 and cm02 with the IPv4 address and MAC their eth0 has in the kernel")
		var got []string
		for id, ep := range n.Containers {
			Expect(id).To(MatchRegexp(`^[0-9a-f]{64}$`))
			Expect(ep.EndpointID).To(MatchRegexp(`^[0-9a-f]{64}$`), ep.Name)
			got = append(got, strings.Join([]string{ep.Name, ep.IPv4Address.String(), ep.MacAddress.String()}, " "))
		}
		var want []string
		for _, c := range []struct{ name, ns string }{{"cm01", ns1}, {"cm02", ns2}} {
			eth0 := LinkNamed(c.ns, "eth0")
			Expect(eth0.Addrs).To(HaveLen(1))
			want = append(want, strings.Join([]string{c.name, eth0.Addrs[0], eth0.MAC}, " "))
		}
		Expect(got).To(ConsistOf(want))
		Expect(want).To(ConsistOf("cm01 172.17.0.2/16 02:42:ac:11:00:02", "cm02 172.17.0.3/16 02:42:ac:11:00:03"))

		By("host and none hold no containers")
		for _, name := range []string{"host", "none"} {
			Expect(MustNetworkInspect(d, name).Containers).To(BeEmpty(), name)
		}
		holdsToChecksVia(l, d, "E04")
	}, checksHere)
})
