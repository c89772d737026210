package scenarios

import (
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns/capture"
)

// Seed 003: "When the vxlan1 device is created, the docker daemon assigns it
// a vxlan tunnel ID, which acts as a network isolation." Isolation at layer
// 2, not only by routes: a container told that the other network's subnet
// is on its own link (an on-link route) asks for the other network's
// addresses by ARP, and nobody answers, because no frame of its network's
// VNI is ever delivered into the other network's namespace, on either
// host.
var _ = Describe("[E21] two overlay networks on the same hosts", Label("E21"), func() {
	It("are isolated at layer 2: an on-link route to the other's subnet gets no ARP answer, and no frame of one VNI reaches the other's namespace", func(ctx SpecContext) {
		l := UpLab("overlay")
		d1, d2 := CLI(l, "node1"), CLI(l, "node2")

		By("docker network create -d overlay ov_a; docker network create -d overlay ov_b (node1)")
		a := MustNetworkCreate(d1, NetworkCreate{Name: "ov_a", Driver: "overlay"})
		b := MustNetworkCreate(d1, NetworkCreate{Name: "ov_b", Driver: "overlay"})
		Eventually(func() []NetworkRow { return MustNetworkList(d2) }, 10*time.Second, 100*time.Millisecond).Should(And(
			ContainElement(HaveField("Name", "ov_a")), ContainElement(HaveField("Name", "ov_b"))))

		By("a1 and b1 on node1, a2 and b2 on node2")
		MustRun(d1, Run{Name: "a1", Network: "ov_a"})
		MustRun(d1, Run{Name: "b1", Network: "ov_b"})
		MustRun(d2, Run{Name: "a2", Network: "ov_a"})
		MustRun(d2, Run{Name: "b2", Network: "ov_b"})
		nsA1 := NetNSOf(d1, "a1")
		Expect(LinkNamed(nsA1, "eth0").Addrs).To(ConsistOf("10.0.0.2/24"))
		Expect(LinkNamed(NetNSOf(d2, "b2"), "eth0").Addrs).To(ConsistOf("10.0.1.3/24"))
		for _, p := range [][3]string{{"a1", "a2", "10.0.0.3"}, {"b1", "b2", "10.0.1.3"}} {
			Eventually(func() (string, error) {
				r, err := execIn(d1, p[0], "ping", "-c", "1", "-W", "1", p[1])
				return r.Stdout, err
			}, 20*time.Second, 200*time.Millisecond).Should(MatchRegexp(received), "%s pings %s (%s) across the hosts", p[0], p[1], p[2])
		}
		bNS1, bDev1, vniB := vxlanNS(l, "node1", b)
		bNS2, bDev2, _ := vxlanNS(l, "node2", b)
		aNS1, aDev1, vniA := vxlanNS(l, "node1", a)
		Expect(vniA).NotTo(Equal(vniB))

		By("a1: ip route add 10.0.1.0/24 dev eth0 (typed from node1 into a1's namespace: the container has no NET_ADMIN)")
		l.Sh("node1", fmt.Sprintf("nsenter --net=/proc/%d/ns/net ip route add 10.0.1.0/24 dev eth0", PidOf(d1, "a1")))
		Expect(MustExec(d1, "a1", "ip", "route")).To(ContainSubstring("10.0.1.0/24 dev eth0"))

		By("docker exec a1 ping 10.0.1.3 (b2) and 10.0.1.2 (b1): no answer, the ARP for them unanswered")
		wire := StartCapture(l.H("node1").NetNS(), "eth1")
		inA := StartCapture(aNS1, aDev1)
		inB := []*capture.Capture{StartCapture(bNS1, bDev1), StartCapture(bNS2, bDev2)}
		// The two addresses are asked at the same time, each waiting out its
		// own pings; its neighbour entry is read after its own ping.
		var asked sync.WaitGroup
		for _, ip := range []string{"10.0.1.3", "10.0.1.2"} {
			asked.Go(func() {
				defer GinkgoRecover()
				r, err := execIn(d1, "a1", "ping", "-c", "2", "-W", "1", ip)
				Expect(err).NotTo(HaveOccurred())
				Expect(r.ExitCode).NotTo(BeZero(), "a1 reached %s of ov_b: %s", ip, r.Stdout)
				Expect(MustExec(d1, "a1", "ip", "neigh", "show", ip)).NotTo(ContainSubstring("lladdr"), "someone answered a1's ARP for %s", ip)
			})
		}
		asked.Wait()

		By("captured: a1 asked (ARP who-has 10.0.1.3 on ov_a's VXLAN device); nothing of a1 on the underlay, nothing of a1 in ov_b's namespace on either host")
		Expect(StopCapture(inA)).To(ContainElement(And(HaveField("ARP", true), HaveField("ARPInfo", "who-has 10.0.1.3 tell 10.0.0.2"))),
			"a1's on-link route made it ask for b2 on its own network")
		a1MAC := DockerMAC("10.0.0.2")
		fromA1 := Or(HaveField("SrcMAC", a1MAC), HaveField("Src", "10.0.0.2"))
		Expect(StopCapture(wire)).NotTo(ContainElement(HaveField("Inner", And(Not(BeNil()), HaveValue(fromA1)))),
			"a frame of a1 crossed the underlay (ov_a is VNI %d, ov_b %d)", vniA, vniB)
		for i, c := range inB {
			Expect(StopCapture(c)).NotTo(ContainElement(fromA1), "a frame of a1 reached ov_b's namespace on node%d", i+1)
		}
	}, NodeTimeout(specTimeout))
})
