package scenarios

import (
	"context"
	"fmt"
	"os"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns"
)

// Seed 003, "Restore netns": Docker keeps its containers' namespaces out of
// /var/run/netns, so the document links /proc/<pid>/ns/net there by hand to
// use `ip netns exec`. nslab's hostd also pins every container's namespace
// as <lab>-<host>-<container>; the document's own way works on both.
var _ = Describe("[E16] a container's netns exposed to ip netns exec", Label("E16"), func() {
	for _, way := range Ways {
		It("shows the container's interfaces through ip netns exec", func(ctx SpecContext) {
			l := UpLab("single")
			d := way(l, "host1")
			By("via " + d.Via())
			MustRun(d, Run{Name: "cm01"})
			ctr := NetNSOf(d, "cm01")
			eth0 := LinkNamed(ctr, "eth0")
			Expect(eth0.Addrs).To(HaveLen(1))
			Expect(l.Sh("host1", "ip -o addr")).NotTo(ContainSubstring("inet "+eth0.Addrs[0]), "the host must not hold cm01's address")

			By("the document's way: ln -s /proc/<pid>/ns/net /var/run/netns/<name>")
			link := e16Restore(l, ctr)
			out := l.Sh("host1", "ip netns exec "+link+" ip addr")
			Expect(out).To(ContainSubstring("eth0"))
			Expect(out).To(ContainSubstring("inet " + eth0.Addrs[0]))
			Expect(out).To(ContainSubstring("link/ether " + eth0.MAC))
			Expect(out).To(ContainSubstring("inet 127.0.0.1/8"))
			Expect(os.Remove(netns.Path(link))).To(Succeed())
		}, NodeTimeout(specTimeout))

		// Real dockerd pins a container's namespace under its exec root
		// (/var/run/docker/netns/<sandbox>), never as
		// /run/netns/<lab>-<host>-<container>: the pin is hostd's own.
		It("is pinned by hostd as <lab>-<host>-<container>, and the pin goes with the container", Label("native-only"), func(nodeCtx SpecContext) {
			l := UpLab("single")
			d := way(l, "host1")
			By("via " + d.Via())
			MustRun(d, Run{Name: "cm01", Network: "none"})
			pin := l.H("host1").ContainerNetNS("cm01")
			name := strings.TrimPrefix(pin, netns.RunDir+"/")
			Expect(Inode(pin)).To(Equal(Inode(NetNSOf(d, "cm01"))))

			By("a link moved into the container appears through the pin and inside the container")
			// As in Docker, a container has no NET_ADMIN: the host makes the
			// pair and moves it in by the container's pid, as seed 004 does.
			pid := strings.TrimSuffix(strings.TrimPrefix(NetNSOf(d, "cm01"), "/proc/"), "/ns/net")
			l.Sh("host1", "ip link add v-e16a type veth peer name v-e16b")
			l.Sh("host1", "ip link set v-e16a netns "+pid+" && ip link set v-e16b netns "+pid)
			out := l.Sh("host1", "ip netns exec "+name+" ip addr")
			Expect(out).To(ContainSubstring("v-e16a"))
			Expect(out).To(ContainSubstring("v-e16b"))
			Expect(MustExec(d, "cm01", "ip", "-o", "link")).To(ContainSubstring("v-e16a"))

			By("removing the container removes its pin")
			ctx, cancel := context.WithTimeout(nodeCtx, StepTimeout)
			defer cancel()
			Expect(d.Remove(ctx, "cm01")).To(Succeed())
			Eventually(func() bool { _, err := os.Stat(pin); return os.IsNotExist(err) }).
				WithTimeout(probeTimeout).Should(BeTrue(), "pin %s left after rm", pin)
		}, NodeTimeout(specTimeout))
	}
})

// e16Restore types seed 003's `ln -s /proc/<pid>/ns/net /var/run/netns/<name>`
// in host1 for the container whose namespace is ctr (/proc/PID/ns/net),
// the name <lab>-restored; the spec's cleanup removes the link.
func e16Restore(l *Lab, ctr string) string {
	GinkgoHelper()
	link := l.ID() + "-restored"
	DeferCleanup(func() { os.Remove(netns.Path(link)) })
	pid := strings.TrimSuffix(strings.TrimPrefix(ctr, "/proc/"), "/ns/net")
	l.Sh("host1", fmt.Sprintf("ln -s /proc/%s/ns/net /var/run/netns/%s", pid, link))
	return link
}
