package scenarios

import (
	"context"
	"net/netip"
	"time"

	"github.com/miekg/dns"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns/probe"
)

// Seed 003 publishes consul's DNS with `-p 8600:53/udp`; here the port is
// 53 itself, `-p 53:53/udp`, asked from another host. busybox has no UDP
// server for a container to run (its nc speaks TCP only), so the DNS
// server is the spec's, a socket in the container's own network namespace:
// what is tested is the path, the host's UDP port 53 into the container.
var _ = Describe("[E13] a published UDP port", Label("E13"), func() {
	It("-p 53:53/udp: a DNS server in the container answers a client on another host through the host's address", func(nodeCtx SpecContext) {
		l := UpLab("nat")
		d := CLI(l, "host1")
		By("docker run -itd --name dns -p 53:53/udp alpine")
		MustRun(d, Run{Name: "dns", Publish: []string{"53:53/udp"}})
		ns := NetNSOf(d, "dns")
		Expect(LinkNamed(ns, "eth0").Addrs).To(ConsistOf("172.17.0.2/16"))
		asked := serveLabDNS(ns, "0.0.0.0:53", map[string]string{"consul.service.lab.": "10.9.8.7"})

		By("docker port dns: 53/udp -> 0.0.0.0:53")
		Expect(l.DockerCLI("host1", "port", "dns")).To(ContainSubstring("53/udp -> 0.0.0.0:53"))
		By("iptables -t nat -S DOCKER (host1): the DNAT of UDP 53 to the container")
		Expect(l.Sh("host1", "iptables -t nat -S DOCKER")).To(ContainSubstring(
			"-A DOCKER ! -i docker0 -p udp -m udp --dport 53 -j DNAT --to-destination 172.17.0.2:53"))

		By("from host2: nslookup consul.service.lab 192.168.99.101")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		addrs, _, err := probe.DNS(ctx, l.H("host2").NetNS(), netip.MustParseAddrPort("192.168.99.101:53"), "consul.service.lab", dns.TypeA, probe.Opts{Timeout: 10 * time.Second})
		Expect(err).NotTo(HaveOccurred())
		Expect(addrs).To(ConsistOf(netip.MustParseAddr("10.9.8.7")))
		Expect(asked.asked()).To(ContainElement("consul.service.lab."), "the container's server answered")
	}, NodeTimeout(specTimeout))
})
