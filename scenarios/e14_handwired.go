package scenarios

import (
	"context"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	. "github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns"
)

// Seed 004, "网络配置细节": a container started with --net=none is wired to
// docker0 by hand, the way Docker does it itself. The seed's docker0 holds
// 172.17.42.1/16, so host1 runs with that bridge address
// (fixtures/handwired.yaml, dockerd's --bip). The document types:
//
//	docker inspect -f '{{.State.Pid}}' <id>; ln -s /proc/$pid/ns/net /var/run/netns/$pid
//	ip addr show docker0
//	ip link add A type veth peer name B; brctl addif docker0 A; ip link set A up
//	ip link set B netns $pid; ip netns exec $pid ip link set dev B name eth0
//	ip netns exec $pid ip link set eth0 up
//	ip netns exec $pid ip addr add 172.17.42.99/16 dev eth0
//	ip netns exec $pid ip route add default via 172.17.42.1
//
// typed as written in host1, whose /var/run/netns is its own: the link
// named $pid never appears on the machine.
var _ = Describe("[E14] a --net=none container wired to docker0 by hand", Label("E14"), func() {
	itEachWay("reaches the bridge's other containers and the gateway through its hand-made eth0", "handwired", "host1", func(ctx SpecContext, l *Lab, d Docker) {
		host := l.H("host1").NetNS()
		runAll(d, e14Runs)
		ns1 := NetNSOf(d, "cm01")
		eth0of1 := LinkNamed(ns1, "eth0")
		Expect(eth0of1.Addrs).To(HaveLen(1))
		cm01 := strings.Split(eth0of1.Addrs[0], "/")[0]

		By("ip addr show docker0: inet 172.17.42.1/16")
		Expect(l.Sh("host1", "ip addr show docker0")).To(ContainSubstring("inet 172.17.42.1/16 "))

		By("the document's commands, typed in host1")
		e14Wire(l, d)

		By("the kernel: A is an up port of docker0 whose peer is the container's eth0, with the address and route")
		ns := NetNSOf(d, "handwired")
		Expect(LinkNames(ns)).To(ConsistOf("lo", "eth0"))
		eth0 := LinkNamed(ns, "eth0")
		Expect(eth0.Up).To(BeTrue())
		Expect(eth0.Addrs).To(ConsistOf("172.17.42.99/16"))
		Expect(Routes(ns, unix.RT_TABLE_MAIN)).To(ConsistOf("default via 172.17.42.1 dev eth0", "172.17.0.0/16 dev eth0"))
		a := PortOf(host, "docker0", eth0)
		Expect(a.Name).To(Equal("A"))
		Expect(a.Up).To(BeTrue())
		Expect(LinkNames(host)).NotTo(ContainElement("B"))

		By("the hand-wired container pings cm01 and the gateway, and cm01 pings it")
		ExpectPing(ns, cm01)
		ExpectPing(ns, "172.17.42.1")
		ExpectPing(ns1, "172.17.42.99")
		Expect(MustExec(d, "handwired", "ping", "-c", "1", "-W", "2", cm01)).To(MatchRegexp(received))
		holdsToChecksVia(l, d, "E14")

		By("当容器结束后: removing the container takes A off docker0")
		MustDo(d, "rm -f handwired", func(ctx context.Context) error { return d.Remove(ctx, "handwired") })
		Eventually(func() []string { return LinkNames(host) }).WithTimeout(15*time.Second).
			ShouldNot(ContainElement("A"), "the container's namespace went, and with it both ends of the pair")

		// Docker's IPAM hands out the first free address of the pool, which
		// --bip 172.17.42.1/16 leaves at 172.17.0.1 (observed on Docker
		// 20.10.24), with the default route via the bridge address.
		By("cm01 got Docker's own allocation: 172.17.0.1/16, default via 172.17.42.1")
		Expect(eth0of1.Addrs).To(ConsistOf("172.17.0.1/16"))
		Expect(eth0of1.MAC).To(Equal("02:42:ac:11:00:01"))
		Expect(Routes(ns1, unix.RT_TABLE_MAIN)).To(ConsistOf("default via 172.17.42.1 dev eth0", "172.17.0.0/16 dev eth0"))
	}, checksHere)
})

// e14Runs are cm01 on docker0 and the container to be wired by hand.
var e14Runs = []Run{{Name: "cm01"}, {Name: "handwired", Network: "none"}}

// e14Wire types seed 004's commands in host1: a veth pair A/B, A a port of
// docker0, B the handwired container's eth0 with 172.17.42.99/16 and the
// default route via docker0's 172.17.42.1.
func e14Wire(l *Lab, d Docker) {
	GinkgoHelper()
	pid, name := pinTyped(l, d, "handwired")
	l.Sh("host1", "ip link add A type veth peer name B")
	l.Sh("host1", "brctl addif docker0 A")
	l.Sh("host1", "ip link set A up")
	l.Sh("host1", fmt.Sprintf("ip link set B netns %d", pid))
	l.Sh("host1", "ip netns exec "+name+" ip link set dev B name eth0")
	l.Sh("host1", "ip netns exec "+name+" ip link set eth0 up")
	l.Sh("host1", "ip netns exec "+name+" ip addr add 172.17.42.99/16 dev eth0")
	l.Sh("host1", "ip netns exec "+name+" ip route add default via 172.17.42.1")
}

// pinTyped exposes a container's namespace to ip netns as seed 004 does,
// typed in host1 as written: `ln -s /proc/$pid/ns/net /var/run/netns/$pid`,
// in host1's own /var/run/netns (it never reaches the machine, and goes
// with the host). It returns the pid and the name.
func pinTyped(l *Lab, d Docker, ctr string) (int, string) {
	GinkgoHelper()
	pid := PidOf(d, ctr)
	name := fmt.Sprint(pid)
	l.Sh("host1", "mkdir -p /var/run/netns")
	l.Sh("host1", fmt.Sprintf("ln -s /proc/%d/ns/net /var/run/netns/%s", pid, name))
	ExpectNotOnMachine(netns.Path(name))
	return pid, name
}
