package scenarios

import (
	"fmt"
	"net/netip"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/probe"
)

// Seed 001, "netns": two namespaces joined by a veth pair. The student types
// the commands on a host; here they run inside the virtual host host1, with
// the document's names: the host's /var/run/netns is its own, so test1 and
// test2 never meet another lab's (or the machine's) namespaces, and never
// appear on the machine.
var _ = Describe("[E01] two namespaces joined by a veth pair", Label("E01"), func() {
	It("pings both ways, is listed by ip netns, and leaves nothing when deleted", Label(LabelChecks), func(ctx SpecContext) {
		l := UpLab("single")
		failsChecks(l, "E01")
		Expect(l.Sh("host1", "ip netns list")).To(BeEmpty(), "a host's /var/run/netns starts empty")
		t1, t2 := e01Pair(l)
		list := l.Sh("host1", "ip netns list")
		Expect(list).To(ContainSubstring(t1))
		Expect(list).To(ContainSubstring(t2))
		ExpectNotOnMachine(netns.Path(t1), netns.Path(t2))

		By("the kernel holds one end in each namespace, with its address")
		f1, err := l.H("host1").Open("/var/run/netns/" + t1)
		Expect(err).NotTo(HaveOccurred())
		defer f1.Close()
		f2, err := l.H("host1").Open("/var/run/netns/" + t2)
		Expect(err).NotTo(HaveOccurred())
		defer f2.Close()
		ns1, ns2 := fmt.Sprintf("/proc/self/fd/%d", f1.Fd()), fmt.Sprintf("/proc/self/fd/%d", f2.Fd())
		Expect(Links(ns1)).To(ContainElement(And(
			HaveField("Name", "veth-test1"), HaveField("Kind", "veth"), HaveField("Up", true),
			HaveField("Addrs", ConsistOf("192.168.100.1/24")))))
		Expect(Links(ns2)).To(ContainElement(And(
			HaveField("Name", "veth-test2"), HaveField("Addrs", ConsistOf("192.168.100.2/24")))))
		for _, i := range Links(l.H("host1").NetNS()) {
			Expect(i.Name).NotTo(HavePrefix("veth-test"), "the pair must have left host1")
		}

		By("ping works both ways, on the wire and with the document's command")
		r, err := probe.Ping(ctx, ns1, netip.MustParseAddr("192.168.100.2"), probe.Opts{Timeout: probeTimeout})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.From).To(Equal(netip.MustParseAddr("192.168.100.2")))
		_, err = probe.Ping(ctx, ns2, netip.MustParseAddr("192.168.100.1"), probe.Opts{Timeout: probeTimeout})
		Expect(err).NotTo(HaveOccurred())
		Expect(l.Sh("host1", "ip netns exec "+t1+" ping -c 1 -W 2 192.168.100.2")).To(ContainSubstring("1 received"))
		holdsToChecks(l, "E01")

		By("ip netns delete leaves nothing")
		f1.Close()
		f2.Close()
		l.Sh("host1", "ip netns delete "+t1)
		l.Sh("host1", "ip netns delete "+t2)
		Expect(l.Sh("host1", "ip netns list")).NotTo(ContainSubstring("test"))
		l.Sh("host1", "test ! -e /var/run/netns/"+t1+" && test ! -e /var/run/netns/"+t2)
		// Deleting a namespace destroys the veth ends in it: host1 has none.
		Expect(l.Sh("host1", "ip -o link")).NotTo(ContainSubstring("veth-test"))
	}, NodeTimeout(specTimeout))
})

// e01Pair types seed 001's commands in host1, as written: two namespaces
// test1 and test2 (host1's own: its /var/run/netns is not the machine's)
// joined by a veth pair, 192.168.100.1/24 and .2/24, both ends up. It
// returns the namespaces' names.
func e01Pair(l *Lab) (t1, t2 string) {
	GinkgoHelper()
	t1, t2 = "test1", "test2"
	l.Sh("host1", "ip netns add "+t1)
	l.Sh("host1", "ip netns add "+t2)
	l.Sh("host1", "ip link add veth-test1 type veth peer name veth-test2")
	l.Sh("host1", "ip link set veth-test1 netns "+t1)
	l.Sh("host1", "ip link set veth-test2 netns "+t2)
	l.Sh("host1", "ip netns exec "+t1+" ip addr add 192.168.100.1/24 dev veth-test1")
	l.Sh("host1", "ip netns exec "+t2+" ip addr add 192.168.100.2/24 dev veth-test2")
	l.Sh("host1", "ip netns exec "+t1+" ip link set dev veth-test1 up")
	l.Sh("host1", "ip netns exec "+t2+" ip link set dev veth-test2 up")
	return t1, t2
}
