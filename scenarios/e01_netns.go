package scenarios

import (
	"net/netip"
	"os"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/probe"
)

// Seed 001, "netns": two namespaces joined by a veth pair. The student types
// the commands on a host; here they run inside the virtual host host1. The
// namespace names carry the lab id (test1 becomes <lab>-test1) because
// /run/netns is shared by every lab on the machine.
var _ = Describe("[E01] two namespaces joined by a veth pair", Label("E01"), func() {
	It("pings both ways, is listed by ip netns, and leaves nothing when deleted", func(ctx SpecContext) {
		l := UpLab("single")
		t1, t2 := e01Pair(l)
		list := l.Sh("host1", "ip netns list")
		Expect(list).To(ContainSubstring(t1))
		Expect(list).To(ContainSubstring(t2))

		By("the kernel holds one end in each namespace, with its address")
		Expect(Links(netns.Path(t1))).To(ContainElement(And(
			HaveField("Name", "veth-test1"), HaveField("Kind", "veth"), HaveField("Up", true),
			HaveField("Addrs", ConsistOf("192.168.100.1/24")))))
		Expect(Links(netns.Path(t2))).To(ContainElement(And(
			HaveField("Name", "veth-test2"), HaveField("Addrs", ConsistOf("192.168.100.2/24")))))
		for _, i := range Links(l.H("host1").NetNS()) {
			Expect(i.Name).NotTo(HavePrefix("veth-test"), "the pair must have left host1")
		}

		By("ping works both ways, on the wire and with the document's command")

		r, err := probe.Ping(ctx, netns.Path(t1), netip.MustParseAddr("192.168.100.2"), probe.Opts{Timeout: probeTimeout})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.From).To(Equal(netip.MustParseAddr("192.168.100.2")))
		_, err = probe.Ping(ctx, netns.Path(t2), netip.MustParseAddr("192.168.100.1"), probe.Opts{Timeout: probeTimeout})
		Expect(err).NotTo(HaveOccurred())
		Expect(l.Sh("host1", "ip netns exec "+t1+" ping -c 1 -W 2 192.168.100.2")).To(ContainSubstring("1 received"))

		By("ip netns delete leaves nothing")
		l.Sh("host1", "ip netns delete "+t1)
		l.Sh("host1", "ip netns delete "+t2)
		Expect(l.Sh("host1", "ip netns list")).NotTo(ContainSubstring(l.ID() + "-test"))
		for _, n := range []string{t1, t2} {
			_, err := os.Stat(netns.Path(n))
			Expect(os.IsNotExist(err)).To(BeTrue(), "%s still pinned", n)
		}
		// Deleting a namespace destroys the veth ends in it: host1 has none.
		Expect(strings.Contains(l.Sh("host1", "ip -o link"), "veth-test")).To(BeFalse())
	}, NodeTimeout(specTimeout))
})

// e01Pair types seed 001's commands in host1: two namespaces joined by a
// veth pair, 192.168.100.1/24 and .2/24, both ends up. It returns the
// namespaces' names, <lab>-test1 and <lab>-test2; the spec's cleanup
// deletes them.
func e01Pair(l *Lab) (t1, t2 string) {
	GinkgoHelper()
	t1, t2 = l.ID()+"-test1", l.ID()+"-test2"
	DeferCleanup(func() { netns.Delete(t1); netns.Delete(t2) })
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
