package scenarios

import (
	"context"
	"fmt"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/nslab/nslab/labtest"
)

// storeBound is how long a `network create -d overlay` may take to fail
// once the cluster store has lost its quorum.
const storeBound = 10 * time.Second

// overlayPair makes seed 000's etcd_network on node1 and cm01 (node1) and
// cm02 (node2) on it, and waits until cm01 pings cm02 by name.
func overlayPair(l *Lab, d1, d2 Docker) (ns1, ns2 string) {
	GinkgoHelper()
	MustNetworkCreate(d1, NetworkCreate{Name: "etcd_network", Driver: "overlay"})
	Eventually(func() []NetworkRow { return MustNetworkList(d2) }, 10*time.Second, 100*time.Millisecond).Should(ContainElement(HaveField("Name", "etcd_network")))
	MustRun(d1, Run{Name: "cm01", Network: "etcd_network"})
	MustRun(d2, Run{Name: "cm02", Network: "etcd_network"})
	Eventually(func() (string, error) {
		r, err := execIn(d1, "cm01", "ping", "-c", "1", "-W", "1", "cm02")
		return r.Stdout, err
	}, 20*time.Second, 200*time.Millisecond).Should(MatchRegexp(received))
	return NetNSOf(d1, "cm01"), NetNSOf(d2, "cm02")
}

// Seeds 000 and 001 build the cluster of two members; what happens when one
// of them goes is what a student finds next. etcd needs a majority: with
// one of two members gone there is none, the store refuses writes, and a
// new overlay network cannot be made; the data path (the VXLAN devices and
// their entries, already in the kernel) does not depend on the store.
var _ = Describe("[E23] the etcd cluster's quorum", Label("E23"), func() {
	itEachWayOwn("with one member of two stopped, existing overlay traffic flows and a create fails with a clear error; the member back, creates work again", func(nodeCtx SpecContext, way dockerWay) {
		l := UpFreshLab("overlay")
		d1, d2 := way(l, "node1"), way(l, "node2")
		By("via " + d1.Via())
		ns1, _ := overlayPair(l, d1, d2)

		By("stop the etcd member of node2 (docker-node2): no quorum left")
		ctx, cancel := context.WithTimeout(nodeCtx, 30*time.Second)
		defer cancel()
		Expect(l.StopEtcd(ctx, "node2")).To(Succeed())

		By("docker exec cm01 ping -c 1 cm02: the existing overlay traffic flows")
		ExpectPing(ns1, "10.0.0.3")
		Expect(MustExec(d1, "cm01", "ping", "-c", "1", "-W", "2", "cm02")).To(MatchRegexp(received))
		holdsToChecksVia(l, d1, "E23")

		By(fmt.Sprintf("docker network create -d overlay ov_net2 (node1): fails within %v, saying the store is unavailable", storeBound))
		cctx, ccancel := context.WithTimeout(nodeCtx, 2*storeBound)
		start := time.Now()
		_, err := d1.NetworkCreate(cctx, NetworkCreate{Name: "ov_net2", Driver: "overlay"})
		took := time.Since(start)
		ccancel()
		Expect(err).To(MatchError(ContainSubstring("unavailable")))
		Expect(took).To(BeNumerically("<", storeBound))
		fmt.Fprintf(GinkgoWriter, "create without quorum failed after %v: %v\n", took.Round(time.Millisecond), err)
		Expect(MustNetworkList(d1)).NotTo(ContainElement(HaveField("Name", "ov_net2")))
		ExpectPing(ns1, "10.0.0.3")

		By("start the member of node2 again: the create works and node2 sees the network")
		Expect(l.StartEtcd(ctx, "node2")).To(Succeed())
		Eventually(func() error {
			cctx, ccancel := context.WithTimeout(nodeCtx, StepTimeout)
			defer ccancel()
			_, err := d1.NetworkCreate(cctx, NetworkCreate{Name: "ov_net2", Driver: "overlay"})
			if err != nil {
				fmt.Fprintf(GinkgoWriter, "create with the member back: %v\n", err)
			}
			return err
		}, 20*time.Second, 500*time.Millisecond).Should(Succeed())
		Eventually(func() []NetworkRow { return MustNetworkList(d2) }, 10*time.Second, 100*time.Millisecond).Should(ContainElement(And(
			HaveField("Name", "ov_net2"), HaveField("Scope", "global"))))
	}, checksHere)

	It("with one member of three stopped, the cluster keeps working", func(nodeCtx SpecContext) {
		l := UpFreshLab("overlay3")
		d1, d2 := CLI(l, "node1"), CLI(l, "node2")
		By("stop the etcd member of node3: two of three keep the quorum")
		ctx, cancel := context.WithTimeout(nodeCtx, 30*time.Second)
		defer cancel()
		Expect(l.StopEtcd(ctx, "node3")).To(Succeed())

		By("docker network create -d overlay etcd_network (node1); cm01 on node1 pings cm02 on node2 by name")
		ns1, _ := overlayPair(l, d1, d2)
		ExpectPing(ns1, "10.0.0.3")

		By("docker network ls (node3): its daemon, whose own member is down, reaches the others and lists etcd_network")
		d3 := CLI(l, "node3")
		Eventually(func() []NetworkRow { return MustNetworkList(d3) }, 10*time.Second, 100*time.Millisecond).Should(ContainElement(And(
			HaveField("Name", "etcd_network"), HaveField("Scope", "global"))))
	}, NodeTimeout(specTimeout))

	// Host loss: as Docker's classic overlay, the daemons keep a dead
	// host's endpoints (and the peers programmed from them) until an
	// operator removes them: an endpoint is a plain key of the store; only
	// the host's node key has a TTL, which it no longer renews.
	It("keeps a dead host's endpoints, its peers and its names on the other hosts", Label(LabelDaemonKilled), func(ctx SpecContext) {
		l := UpFreshLab("overlay")
		d1, d2 := CLI(l, "node1"), CLI(l, "node2")
		overlayPair(l, d1, d2)
		n := MustNetworkInspect(d2, "etcd_network")
		ov, vx, _ := vxlanNS(l, "node2", n.ID)
		peer := DockerMAC("10.0.0.2") + " dst 192.168.8.150 permanent"
		Expect(vxlanFDB(ov, vx)).To(ContainElement(peer))

		By("kill -9 node1's daemon")
		pid := l.H("node1").HostdPID()
		Expect(pid).To(BeNumerically(">", 0))
		Expect(syscall.Kill(pid, syscall.SIGKILL)).To(Succeed())

		By("node2 keeps cm01's FDB entry, its endpoint in etcd and its name")
		Consistently(func() []string { return vxlanFDB(ov, vx) }, 12*time.Second, time.Second).Should(ContainElement(peer))
		Expect(outputLines(etcdctl(l, "node2", "2", "ls", "/docker/network/v1.0/endpoint/"+n.ID))).To(HaveLen(2))
		r, err := execIn(d2, "cm02", "ping", "-c", "1", "-W", "1", "cm01")
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Stdout).To(ContainSubstring("PING cm01 (10.0.0.2)"), "cm02 still resolves cm01")
	}, NodeTimeout(specTimeout))
})
