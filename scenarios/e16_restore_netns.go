package scenarios

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns"
)

// Seed 003, "Restore netns" (seed 004 does the same with $pid): Docker keeps
// its containers' namespaces out of /var/run/netns. dockerd pins each under
// its exec root instead, as /var/run/docker/netns/<sandbox key> (the first
// 12 digits of the sandbox id; "default" for the host's own namespace;
// 1-<first 10 digits of the network id> for an overlay network), so the
// document links them into /var/run/netns by hand to use `ip netns exec`:
//
//	docker inspect <id> | grep Pid
//	ln -s /proc/26398/ns/net /var/run/netns/adaea943f075   # (container id); make the directory if missing
//	ln -s /var/run/docker/netns /var/run/netns             # dockerd's pins, all at once
//	ip netns exec 1-46663fb66b ip addr
//	ip netns exec 1-46663fb66b brctl show
//
// Typed inside the virtual host, whose /var/run is its own, as written: on
// hostd as on dockerd, and nothing of it reaches the machine. The second
// link works as a link only where /var/run/netns does not exist yet, as on
// a machine just booted (a host starts that way).
var _ = Describe("[E16] a container's netns exposed to ip netns exec", Label("E16"), func() {
	itEachWay("shows the container's interfaces through ip netns exec, linked by its pid", "single", "host1", func(ctx SpecContext, l *Lab, d Docker) {
		MustRun(d, Run{Name: "cm01"})
		eth0 := LinkNamed(NetNSOf(d, "cm01"), "eth0")
		Expect(eth0.Addrs).To(HaveLen(1))
		Expect(l.Sh("host1", "ip -o addr")).NotTo(ContainSubstring("inet "+eth0.Addrs[0]), "the host must not hold cm01's address")

		By("docker inspect, typed in host1, reaches the host's daemon at /var/run/docker.sock")
		pid := strings.TrimSpace(l.Sh("host1", "docker inspect -f '{{.State.Pid}}' cm01"))
		id := strings.TrimSpace(l.Sh("host1", "docker inspect -f '{{.Id}}' cm01"))[:12]
		Expect(pid).To(Equal(fmt.Sprint(PidOf(d, "cm01"))))

		By("ln -s /proc/" + pid + "/ns/net /var/run/netns/<container id>; ip netns exec <container id> ip addr")
		e16Restore(l, d, "cm01", id)
		out := l.Sh("host1", "ip netns exec "+id+" ip addr")
		Expect(out).To(ContainSubstring("eth0"))
		Expect(out).To(ContainSubstring("inet " + eth0.Addrs[0]))
		Expect(out).To(ContainSubstring("link/ether " + eth0.MAC))
		Expect(out).To(ContainSubstring("inet 127.0.0.1/8"))
		Expect(l.Sh("host1", "ip netns list")).To(ContainSubstring(id))

		// A teacher cannot know the container's id in advance: the checks
		// file looks for the link under a name of its own.
		By("ln -s /proc/" + pid + "/ns/net /var/run/netns/restored, the name fixtures/checks/E16.yaml gives the link")
		e16Restore(l, d, "cm01", "restored")
		holdsToChecksVia(l, d, "E16")
	}, checksHere)

	itEachWay("shows every sandbox of the daemon once /var/run/docker/netns is linked as /var/run/netns", "single", "host1", func(nodeCtx SpecContext, l *Lab, d Docker) {
		MustRun(d, Run{Name: "cm01"})
		MustRun(d, Run{Name: "cm05", Network: "host"})
		key := strings.TrimSpace(l.Sh("host1", "docker inspect -f '{{.NetworkSettings.SandboxKey}}' cm01"))
		sandbox := strings.TrimSpace(l.Sh("host1", "docker inspect -f '{{.NetworkSettings.SandboxID}}' cm01"))
		Expect(key).To(Equal("/var/run/docker/netns/"+sandbox[:12]), "Docker's sandbox key: the first 12 digits of the sandbox id")
		Expect(strings.TrimSpace(l.Sh("host1", "docker inspect -f '{{.NetworkSettings.SandboxKey}}' cm05"))).To(Equal("/var/run/docker/netns/default"))
		Expect(Inode(InHost(l, "host1", key))).To(Equal(Inode(NetNSOf(d, "cm01"))))
		Expect(Inode(InHost(l, "host1", "/var/run/docker/netns/default"))).To(Equal(Inode(l.H("host1").NetNS())))

		By("ip netns list is empty on a fresh host; ln -s /var/run/docker/netns /var/run/netns")
		Expect(l.Sh("host1", "ip netns list")).To(BeEmpty())
		l.Sh("host1", "ln -s /var/run/docker/netns /var/run/netns")
		list := l.Sh("host1", "ip netns list")
		Expect(list).To(ContainSubstring(filepath.Base(key)))
		Expect(list).To(ContainSubstring("default"))
		eth0 := LinkNamed(NetNSOf(d, "cm01"), "eth0")
		Expect(l.Sh("host1", "ip netns exec "+filepath.Base(key)+" ip addr")).To(ContainSubstring("inet " + eth0.Addrs[0]))

		By("the machine's /run/netns is untouched: still a directory, without the host's names")
		st, err := os.Lstat(netns.RunDir)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.IsDir()).To(BeTrue(), "%s must stay the machine's directory", netns.RunDir)
		ExpectNotOnMachine(netns.Path(filepath.Base(key)), netns.Path("default"))

		By("docker rm -f cm01: its sandbox is no namespace any more")
		ctx, cancel := context.WithTimeout(nodeCtx, StepTimeout)
		defer cancel()
		Expect(d.Remove(ctx, "cm01")).To(Succeed())
		// dockerd unmounts the pin at once and removes the file later
		// (its garbage collection runs every minute); hostd does both.
		r, err := l.H("host1").Exec(ctx, "ip", "netns", "exec", filepath.Base(key), "true")
		Expect(err).NotTo(HaveOccurred())
		Expect(r.ExitCode).NotTo(BeZero(), "ip netns exec %s after rm: %s", filepath.Base(key), r.Stdout+r.Stderr)
	})

	// Real dockerd pins a container's namespace under its exec root
	// (/var/run/docker/netns/<sandbox>), never as
	// /run/netns/<lab>-<host>-<container>: the pin is hostd's own.
	itEachWay("is pinned by hostd as <lab>-<host>-<container>, and the pin goes with the container", "single", "host1", func(nodeCtx SpecContext, l *Lab, d Docker) {
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
		// The pin is the machine's: `ip netns exec` there, not in the host.
		out, err := runOnMachine("ip", "netns", "exec", name, "ip", "addr")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("v-e16a"))
		Expect(out).To(ContainSubstring("v-e16b"))
		Expect(MustExec(d, "cm01", "ip", "-o", "link")).To(ContainSubstring("v-e16a"))

		By("removing the container removes its pin")
		ctx, cancel := context.WithTimeout(nodeCtx, StepTimeout)
		defer cancel()
		Expect(d.Remove(ctx, "cm01")).To(Succeed())
		Eventually(func() bool { _, err := os.Stat(pin); return os.IsNotExist(err) }).
			WithTimeout(probeTimeout).Should(BeTrue(), "pin %s left after rm", pin)
	}, Label("native-only"))

	// Seed 003 on an overlay host: the overlay network's own namespace,
	// 1-<network id>, holds its bridge br0 with the gateway address and its
	// VXLAN device, the container's veth a port of br0.
	It("shows an overlay network's namespace as 1-<network id>: ip netns exec 1-<id> ip addr, brctl show", func(ctx SpecContext) {
		l := UpLab("overlay")
		d := CLI(l, "node1")
		id := MustNetworkCreate(d, NetworkCreate{Name: "ov_net1", Driver: "overlay"})
		MustRun(d, Run{Name: "cm01", Network: "ov_net1"})
		ns := "1-" + id[:10]
		l.Sh("node1", "ln -s /var/run/docker/netns /var/run/netns")
		Expect(l.Sh("node1", "ip netns list")).To(ContainSubstring(ns))
		addr := l.Sh("node1", "ip netns exec "+ns+" ip addr")
		Expect(addr).To(MatchRegexp(`(?m)^\d+: br0: `))
		Expect(addr).To(ContainSubstring("inet 10.0.0.1/24 "))
		Expect(addr).To(MatchRegexp(`(?m)^\d+: vxlan0(@\S+)?: `))
		brctl := l.Sh("node1", "ip netns exec "+ns+" brctl show")
		Expect(brctl).To(MatchRegexp(`(?m)^br0\s+\S+\s+no\s+`))
		Expect(brctl).To(MatchRegexp(`\svxlan0\s`))
		Expect(brctl).To(MatchRegexp(`\sveth\w+\s`))
		ExpectNotOnMachine(netns.Path(ns))
	}, NodeTimeout(specTimeout))
})

// e16Restore types seed 003's `ln -s /proc/<pid>/ns/net /var/run/netns/<link>`
// in host1 for the container ctr, making the directory first as the seed
// says to when it is missing; the link is host1's own and never reaches
// the machine.
func e16Restore(l *Lab, d Docker, ctr, link string) {
	GinkgoHelper()
	l.Sh("host1", "mkdir -p /var/run/netns")
	l.Sh("host1", fmt.Sprintf("ln -s /proc/%d/ns/net /var/run/netns/%s", PidOf(d, ctr), link))
	ExpectNotOnMachine(netns.Path(link))
}

// runOnMachine runs a command on the machine itself (outside every lab
// namespace) and returns its combined output.
func runOnMachine(argv ...string) (string, error) {
	ctx, cancel := StepContext(StepTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	return string(out), err
}
