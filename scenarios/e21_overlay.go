package scenarios

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/network"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	. "github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// Seed 000, "跨主机通信 overlay", with seed 001's and 003's descriptions of
// what is under it: a two-member etcd cluster on the hosts' own addresses
// (fixtures/overlay.yaml: docker-node1 on 192.168.8.150, docker-node2 on
// 192.168.8.148), each daemon started with
//
//	dockerd --cluster-store=etcd://192.168.8.150:2379 --cluster-advertise=192.168.8.150:2375
//
// then on node1
//
//	docker network create -d overlay etcd_network
//	docker network ls        # etcd_network  overlay  global, on node2 too
//
// Containers on the network get 10.0.0.x on eth0, reach each other by name
// across the hosts in VXLAN (UDP 4789, the network's VNI) between the
// hosts' underlay addresses, with static FDB entries on the VXLAN device
// that point at the peer's host ("generates a static MAC forwarding table
// on the vxlan1 device", seed 003); the network's keys are in etcd.
var _ = Describe("[E21] an overlay network through etcd", Label("E21"), func() {
	itEachWay2("is created on node1 and seen global on node2; containers on both ping each other by name over VXLAN", "overlay", [2]string{"node1", "node2"}, func(ctx SpecContext, l *Lab, d1, d2 Docker) {
		failsChecksVia(l, d1, "E21")

		By("docker network create -d overlay etcd_network (node1)")
		id := MustNetworkCreate(d1, NetworkCreate{Name: "etcd_network", Driver: "overlay"})

		By("docker network ls (node2): etcd_network overlay global, with node1's id")
		Eventually(func() []NetworkRow { return MustNetworkList(d2) }, 10*time.Second, 100*time.Millisecond).Should(ContainElement(And(
			HaveField("Name", "etcd_network"), HaveField("Driver", "overlay"), HaveField("Scope", "global"))))
		for h, d := range map[string]Docker{"node1": d1, "node2": d2} {
			n := MustNetworkInspect(d, "etcd_network")
			Expect(n.ID).To(Equal(id), "%s: the network's id", h)
			Expect(n.Scope).To(Equal("global"))
			Expect(n.Driver).To(Equal("overlay"))
			expectOverlayIPAM(n, "10.0.0.0/24", "10.0.0.1")
		}

		By("docker run -itd --name cm01 --network etcd_network alpine (node1), cm02 on node2")
		MustRun(d1, Run{Name: "cm01", Network: "etcd_network"})
		MustRun(d2, Run{Name: "cm02", Network: "etcd_network"})
		ns1, ns2 := NetNSOf(d1, "cm01"), NetNSOf(d2, "cm02")
		// The network's VXLAN device, in a namespace of its own on each
		// host once a container is on it, with the VNI the store gave.
		vni, ov, vx := map[string]uint32{}, map[string]string{}, map[string]string{}
		for _, h := range []string{"node1", "node2"} {
			ov[h], vx[h], vni[h] = vxlanNS(l, h, id)
		}
		Expect(vni["node1"]).To(Equal(vni["node2"]), "both hosts use one VNI")
		Expect(vni["node1"]).To(BeNumerically(">=", 256), "classic overlay takes VNIs from 256")
		Expect(LinkNamed(ns1, "eth0").Addrs).To(ConsistOf("10.0.0.2/24"))
		Expect(LinkNamed(ns2, "eth0").Addrs).To(ConsistOf("10.0.0.3/24"))
		Expect(LinkNamed(ns1, "eth0").MAC).To(Equal(DockerMAC("10.0.0.2")))

		By("docker exec cm01 ping -c 1 cm02 (by name, across the hosts), captured on node2's eth1")
		c := StartCapture(l.H("node2").NetNS(), "eth1")
		Eventually(func() (string, error) {
			r, err := execIn(d1, "cm01", "ping", "-c", "1", "-W", "1", "cm02")
			return r.Stdout, err
		}, 20*time.Second, 200*time.Millisecond).Should(MatchRegexp(received))
		Expect(MustExec(d2, "cm02", "ping", "-c", "1", "-W", "2", "cm01")).To(MatchRegexp(received))
		frames := StopCapture(c)
		Expect(frames).To(ContainElement(And(
			HaveField("Src", "192.168.8.150"), HaveField("Dst", "192.168.8.148"),
			HaveField("UDPDst", 4789), withVNI(vni["node1"]),
			HaveField("Inner", HaveValue(And(HaveField("Src", "10.0.0.2"), HaveField("Dst", "10.0.0.3"), HaveField("ICMP", "EchoRequest")))))),
			"VXLAN with VNI %d from node1 to node2 carrying cm01's echo request", vni["node1"])

		By("bridge fdb show dev vxlan0 (each host's overlay namespace): the peer's MAC points at the peer host's underlay address, static")
		for _, p := range []struct{ host, peerMAC, peerVTEP string }{
			{"node1", DockerMAC("10.0.0.3"), "192.168.8.148"},
			{"node2", DockerMAC("10.0.0.2"), "192.168.8.150"},
		} {
			Expect(vxlanFDB(ov[p.host], vx[p.host])).To(ContainElement(p.peerMAC+" dst "+p.peerVTEP+" permanent"), "%s: %s in %s", p.host, vx[p.host], ov[p.host])
		}

		By("ETCDCTL_API=2 etcdctl ls --recursive /docker (node1): the network's keys")
		keys := etcdKeys(l, "node1")
		Expect(keys).To(ContainElement("/docker/network/v1.0/network/" + id))
		Expect(keys).To(ContainElement("/docker/network/v1.0/overlay/network/" + id))
		Expect(keys).To(ContainElement(ContainSubstring("GlobalDefault/10.0.0.0/24")))
		Expect(keys).To(ContainElement(HavePrefix("/docker/network/v1.0/idm/vxlan-id")))
		Expect(keys).To(ContainElement("/docker/nodes/192.168.8.150:2375"))
		Expect(keys).To(ContainElement("/docker/nodes/192.168.8.148:2375"))
		Observe(l, "E21", "two containers on etcd_network")
		holdsToChecksVia(l, d1, "E21")

		By("docker rm -f cm01 cm02; docker network rm etcd_network (node2): gone on node1 too")
		MustDo(d1, "rm -f cm01", func(ctx context.Context) error { return d1.Remove(ctx, "cm01") })
		MustDo(d2, "rm -f cm02", func(ctx context.Context) error { return d2.Remove(ctx, "cm02") })
		MustDo(d2, "network rm etcd_network", func(ctx context.Context) error { return d2.NetworkRemove(ctx, "etcd_network") })
		Eventually(func() []NetworkRow { return MustNetworkList(d1) }, 10*time.Second, 100*time.Millisecond).ShouldNot(ContainElement(HaveField("Name", "etcd_network")))
	}, checksHere)

	// Issue 6: three hosts, two overlay networks. Each network has its own
	// /24 and VNI; its containers reach each other across hosts and not
	// the other network's, and no frame of one network goes to a host
	// that has none of its containers.
	It("keeps two overlay networks of three hosts isolated from each other", func(ctx SpecContext) {
		l := UpLab("overlay3")
		d := map[string]Docker{}
		for _, h := range []string{"node1", "node2", "node3"} {
			d[h] = CLI(l, h)
		}
		By("docker network create -d overlay ov_a (node1); docker network create -d overlay ov_b (node2)")
		MustNetworkCreate(d["node1"], NetworkCreate{Name: "ov_a", Driver: "overlay"})
		MustNetworkCreate(d["node2"], NetworkCreate{Name: "ov_b", Driver: "overlay"})
		for _, h := range []string{"node1", "node2", "node3"} {
			Eventually(func() []NetworkRow { return MustNetworkList(d[h]) }, 10*time.Second, 100*time.Millisecond).Should(And(
				ContainElement(And(HaveField("Name", "ov_a"), HaveField("Scope", "global"))),
				ContainElement(And(HaveField("Name", "ov_b"), HaveField("Scope", "global")))), h)
		}
		a, b := MustNetworkInspect(d["node3"], "ov_a"), MustNetworkInspect(d["node3"], "ov_b")
		expectOverlayIPAM(a, "10.0.0.0/24", "10.0.0.1")
		expectOverlayIPAM(b, "10.0.1.0/24", "10.0.1.1")

		By("a1 (node1) and a2 (node2) on ov_a; b1 (node1) and b3 (node3) on ov_b")
		MustRun(d["node1"], Run{Name: "a1", Network: "ov_a"})
		MustRun(d["node2"], Run{Name: "a2", Network: "ov_a"})
		MustRun(d["node1"], Run{Name: "b1", Network: "ov_b"})
		MustRun(d["node3"], Run{Name: "b3", Network: "ov_b"})
		nsA1, nsB1 := NetNSOf(d["node1"], "a1"), NetNSOf(d["node1"], "b1")
		a2 := ipv4Of(NetNSOf(d["node2"], "a2"), "eth0").String()
		b3 := ipv4Of(NetNSOf(d["node3"], "b3"), "eth0").String()
		b1 := ipv4Of(nsB1, "eth0").String()
		Expect(a2).To(Equal("10.0.0.3"))
		Expect(b3).To(Equal("10.0.1.3"))
		_, _, vniA := vxlanNS(l, "node1", a.ID)
		_, _, vniB := vxlanNS(l, "node1", b.ID)
		Expect(vniA).NotTo(Equal(vniB))

		By("each network's containers ping each other across hosts, by name too; node3 sees no frame of ov_a")
		c := StartCapture(l.H("node3").NetNS(), "eth1")
		// By address first, then by name: a failure says which of the
		// two (the peers' entries or the names) did not reach node1.
		for _, p := range [][2]string{{"a1", a2}, {"a1", "a2"}, {"b1", b3}, {"b1", "b3"}} {
			Eventually(func() (string, error) {
				r, err := execIn(d["node1"], p[0], "ping", "-c", "1", "-W", "1", p[1])
				return r.Stdout + r.Stderr, err
			}, 20*time.Second, 200*time.Millisecond).Should(MatchRegexp(received), "%s pings %s", p[0], p[1])
		}
		frames := StopCapture(c)
		Expect(frames).NotTo(ContainElement(withVNI(vniA)), "ov_a's VXLAN frames reached node3")
		Expect(frames).To(ContainElement(withVNI(vniB)))

		By("across the networks nothing passes: a1 reaches neither b3 nor b1 (on its own host), a2 not b3; a1 cannot resolve b3")
		ExpectSilent(NoPing(nsA1, b3), NoPing(nsA1, b1), NoPing(NetNSOf(d["node2"], "a2"), b3))
		r, err := execIn(d["node1"], "a1", "ping", "-c", "1", "-W", "1", "b3")
		Expect(err).NotTo(HaveOccurred())
		Expect(r.ExitCode).NotTo(BeZero(), "a1 pinged b3 by name: %s", r.Stdout)
	}, NodeTimeout(specTimeout))
})

// withVNI matches a captured VXLAN frame of the given network id.
func withVNI(vni uint32) types.GomegaMatcher {
	return Satisfy(func(f Frame) bool { return f.VNI != nil && *f.VNI == vni })
}

// execIn is `docker exec` that reports the command's exit code instead of
// failing on it.
func execIn(d Docker, name string, cmd ...string) (Result, error) {
	ctx, cancel := contextWithTimeout()
	defer cancel()
	return d.Exec(ctx, name, cmd...)
}

// expectOverlayIPAM checks an overlay network's IPAM as Docker shows it:
// the default driver with the subnet and gateway it allocated.
func expectOverlayIPAM(n network.Inspect, subnet, gateway string) {
	GinkgoHelper()
	Expect(n.IPAM.Driver).To(Equal("default"))
	Expect(n.IPAM.Config).To(HaveLen(1))
	Expect(n.IPAM.Config[0].Subnet.String()).To(Equal(subnet))
	Expect(n.IPAM.Config[0].Gateway.String()).To(Equal(gateway))
}

// vxlanNS finds the namespace of an overlay network on a host, and its
// VXLAN device and VNI: both daemons pin it in the host's own
// /var/run/docker/netns as 1-<first 10 digits of the network id> (osl's
// key for the network's sandbox), as seed 003 finds it.
func vxlanNS(l *Lab, host, networkID string) (ns, dev string, vni uint32) {
	GinkgoHelper()
	key := "/var/run/docker/netns/1-" + networkID[:10]
	ns = InHost(l, host, key)
	h, err := netns.Handle(ns)
	Expect(err).NotTo(HaveOccurred())
	defer h.Close()
	links, err := netns.LinkList(h)
	Expect(err).NotTo(HaveOccurred())
	for _, lk := range links {
		if vx, ok := lk.(*netlink.Vxlan); ok {
			return ns, vx.Name, uint32(vx.VxlanId)
		}
	}
	Fail(fmt.Sprintf("%s: the namespace %s of network %s holds no VXLAN device", host, key, networkID[:12]))
	return "", "", 0
}

// vxlanFDB dumps the VXLAN device's own FDB entries as `bridge fdb show
// dev vxlan0` prints their essentials: "MAC dst IP permanent".
func vxlanFDB(ns, dev string) []string {
	GinkgoHelper()
	list, err := kernel.Neighbours(ns, dev, unix.AF_BRIDGE)
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, n := range list {
		if n.IP == "" || n.MAC == "" {
			continue
		}
		s := n.MAC + " dst " + n.IP
		if n.Permanent {
			s += " permanent"
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// etcdKeys lists the cluster store's keys under /docker as a student does
// on the host: `etcdctl ls --recursive /docker` with ETCDCTL_API=2, the
// key space dockerd 20.10's libkv writes, and hostd too.
func etcdKeys(l *Lab, host string) []string {
	GinkgoHelper()
	out := l.Sh(host, "ETCDCTL_API=2 etcdctl --endpoints http://127.0.0.1:2379 ls --recursive /docker")
	return strings.Fields(out)
}
