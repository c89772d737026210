package scenarios

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	. "github.com/nslab/nslab/labtest"
)

// Seed 003, "How to communicate with containers without access to overlay
// network cyberspace": `docker network connect ov_net1 containId`, a
// running container of another network (here node1's default bridge)
// joins the overlay network: it gets an interface and an address on it and
// reaches the overlay's containers on the other host, keeping its own way
// out (no docker_gwbridge: its default route is docker0's).
var _ = Describe("[E21] docker network connect to an overlay network", Label("E21"), func() {
	It("gives a running container of the default bridge eth1 on the overlay; it reaches the other host's container by name", func(nodeCtx SpecContext) {
		l := UpLab("overlay")
		d1, d2 := CLI(l, "node1"), CLI(l, "node2")
		By("docker network create -d overlay ov_net1 (node1); docker run -itd --name cm02 --network ov_net1 alpine (node2)")
		MustNetworkCreate(d1, NetworkCreate{Name: "ov_net1", Driver: "overlay"})
		Eventually(func() []NetworkRow { return MustNetworkList(d2) }, 10*time.Second, 100*time.Millisecond).Should(ContainElement(HaveField("Name", "ov_net1")))
		MustRun(d2, Run{Name: "cm02", Network: "ov_net1"})

		By("docker run -itd --name cm01 alpine (node1, the default bridge); docker network connect ov_net1 <cm01's id>")
		MustRun(d1, Run{Name: "cm01"})
		id := containerID(l, "node1", "cm01")
		MustDo(d1, "network connect ov_net1 "+id[:12], func(ctx context.Context) error {
			return d1.NetworkConnect(ctx, "ov_net1", id)
		})
		ns1 := NetNSOf(d1, "cm01")
		Expect(LinkNames(ns1)).To(ConsistOf("lo", "eth0", "eth1"))
		Expect(LinkNamed(ns1, "eth0").Addrs).To(ConsistOf("172.17.0.2/16"))
		Expect(LinkNamed(ns1, "eth1").Addrs).To(ConsistOf("10.0.0.3/24"))
		Expect(Routes(ns1, unix.RT_TABLE_MAIN)).To(ContainElement("default via 172.17.0.1 dev eth0"))

		By("docker exec cm01 ping -c 1 cm02; cm02 pings cm01 back")
		Eventually(func() (string, error) {
			r, err := execIn(d1, "cm01", "ping", "-c", "1", "-W", "1", "cm02")
			return r.Stdout, err
		}, 20*time.Second, 200*time.Millisecond).Should(MatchRegexp(received))
		Expect(MustExec(d2, "cm02", "ping", "-c", "1", "-W", "2", "cm01")).To(MatchRegexp(received))
	}, NodeTimeout(specTimeout))
})
