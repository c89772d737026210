package scenarios

import (
	"context"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/nslab/nslab/labtest"
)

// Seeds 000 and 001, "创建新的网桥br1": `docker network create -d bridge br1`
// takes the next free pool after docker0's (172.18.0.0/16, gateway
// 172.18.0.1); `docker network ls` and `brctl show` then show it; `docker
// network rm br1` removes it. The same with the document's own subnet (its
// `-- gateway` is a typo for `--gateway`).
var _ = Describe("[E05] network create -d bridge br1, with and without a subnet, and network rm", Label("E05"), func() {
	itEachWay("allocates subnets and gateways as Docker does, makes br-<id> with the gateway address, and rm removes it", "single", "host1", func(ctx SpecContext, l *Lab, d Docker) {

		for i, c := range e05Networks {
			By(fmt.Sprintf("docker network create -d bridge br1 (subnet %q, gateway %q)", c.create.Subnet, c.create.Gateway))
			bridgeCreateAndRemove(l, d, c.create, c.subnet, c.gateway, c.bridgeAddr, func() {
				// The second br1 made, the first one gone: what
				// the exercise leaves, bar the last rm.
				if i == len(e05Networks)-1 {
					holdsToChecksVia(l, d, "E05")
				}
			})
		}
	}, checksHere)
})

// bridgeCreateAndRemove creates the network, checks what Docker reports and
// what the kernel holds, calls made, removes it and checks that the bridge
// (and its NAT rule, once hostd writes one) went with it.
func bridgeCreateAndRemove(l *Lab, d Docker, create NetworkCreate, subnet, gateway, bridgeAddr string, made func()) {
	GinkgoHelper()
	host := l.H("host1").NetNS()
	id := MustNetworkCreate(d, create)
	br := "br-" + id[:12]

	n := MustNetworkInspect(d, create.Name)
	Expect(n.ID).To(Equal(id))
	Expect(n.Driver).To(Equal("bridge"))
	Expect(n.Scope).To(Equal("local"))
	Expect(n.IPAM.Driver).To(Equal("default"))
	Expect(n.IPAM.Config).To(HaveLen(1))
	Expect(n.IPAM.Config[0].Subnet.String()).To(Equal(subnet))
	Expect(n.IPAM.Config[0].Gateway.String()).To(Equal(gateway))
	Expect(n.Containers).To(BeEmpty())

	By("the kernel has an up Linux bridge " + br + " holding " + bridgeAddr)
	link := LinkNamed(host, br)
	Expect(link.Kind).To(Equal("bridge"))
	// Up as an interface; with no port yet it has no carrier, as Docker's.
	Expect(link.Up).To(BeTrue())
	Expect(link.Addrs).To(ConsistOf(bridgeAddr))
	Expect(link.MAC).To(HavePrefix("02:42:"))
	Expect(BridgePorts(host, br)).To(BeEmpty())

	By("docker network ls and brctl show list it")
	Expect(networkTable(d)).To(ContainElement(create.Name + " bridge local"))
	Expect(l.Sh("host1", "brctl show")).To(MatchRegexp(`(?m)^%s\s`, br))

	// Docker writes `-A POSTROUTING -s <subnet> ! -o <bridge> -j
	// MASQUERADE` per bridge network; hostd's firewall comes with issue 4.
	masq := fmt.Sprintf("-A POSTROUTING -s %s ! -o %s -j MASQUERADE", subnet, br)
	rules := strings.Contains(l.Sh("host1", "iptables-save -t nat"), masq)
	if !rules {
		fmt.Fprintf(GinkgoWriter, "note: host1's nat table has no %q after create; "+
			"whether rm removes the network's rules is left to the firewall (issue 4)\n", masq)
	}

	made()
	By("docker network rm " + create.Name + " removes the bridge")
	MustDo(d, "network rm "+create.Name, func(ctx context.Context) error { return d.NetworkRemove(ctx, create.Name) })
	Expect(LinkNames(host)).NotTo(ContainElement(br))
	Expect(networkTable(d)).NotTo(ContainElement(HavePrefix(create.Name + " ")))
	Expect(l.Sh("host1", "brctl show")).NotTo(ContainSubstring(br))
	if rules {
		By("and every iptables rule that named it")
		Expect(l.Sh("host1", "iptables-save")).NotTo(ContainSubstring(br))
		Expect(l.Sh("host1", "iptables-save -t nat")).NotTo(ContainSubstring("-s " + subnet + " "))
	}
}

// networkTable is `docker network ls` as "NAME DRIVER SCOPE" lines.
func networkTable(d Docker) []string {
	GinkgoHelper()
	var out []string
	for _, r := range MustNetworkList(d) {
		out = append(out, strings.Join([]string{r.Name, r.Driver, r.Scope}, " "))
	}
	return out
}

// e05Networks are the exercise's two networks, each created and removed
// in turn, and what Docker gives them.
var e05Networks = []struct {
	create          NetworkCreate
	subnet, gateway string
	bridgeAddr      string
}{
	{NetworkCreate{Name: "br1", Driver: "bridge"}, "172.18.0.0/16", "172.18.0.1", "172.18.0.1/16"},
	{NetworkCreate{Name: "br1", Driver: "bridge", Subnet: "192.168.1.0/24", Gateway: "192.168.1.1"},
		"192.168.1.0/24", "192.168.1.1", "192.168.1.1/24"},
}
