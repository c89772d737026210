package scenarios

import (
	"net/netip"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	. "github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns/probe"
)

// Seeds 000, 001, 003, 004: `docker run -itd --name cm05 --network host
// alpine`; `docker exec -it cm05 ash`; `ip a` shows every interface of the
// host.
var _ = Describe("[E09] host mode: the container sees every interface of its host", Label("E09"), func() {
	itEachWay("through each way of driving the daemon", "single", "host1", func(ctx SpecContext, l *Lab, d Docker) {
		MustRun(d, e09Run)
		host := l.H("host1").NetNS()
		ctr := NetNSOf(d, "cm05")

		Expect(Inode(ctr)).To(Equal(Inode(host)), "cm05 must live in host1's own namespace")
		Expect(Links(ctr)).To(Equal(Links(host)))
		Expect(Routes(ctr, unix.RT_TABLE_MAIN)).To(Equal(Routes(host, unix.RT_TABLE_MAIN)))
		Expect(Links(ctr)).To(ContainElement(And(HaveField("Name", "eth1"),
			HaveField("Addrs", ContainElement("192.168.99.101/24")))))

		out := MustExec(d, "cm05", "ip", "a")
		Expect(out).To(ContainSubstring("eth1"))
		Expect(out).To(ContainSubstring("inet 192.168.99.101/24"))
		holdsToChecksVia(l, d, "E09")
	}, checksHere)
})

// `docker run -itd --name cm08 --network none alpine`; `ip a` shows lo only.
var _ = Describe("[E10] none mode: loopback only", Label("E10"), func() {
	itEachWay("has exactly one interface, lo, up, and only local routes", "single", "host1", func(ctx SpecContext, l *Lab, d Docker) {
		MustRun(d, e10Run)
		ctr := NetNSOf(d, "cm08")

		Expect(Inode(ctr)).NotTo(Equal(Inode(l.H("host1").NetNS())))
		Expect(Links(ctr)).To(ConsistOf(And(HaveField("Name", "lo"), HaveField("Up", true),
			HaveField("Addrs", ConsistOf("127.0.0.1/8")))))
		Expect(Routes(ctr, unix.RT_TABLE_MAIN)).To(BeEmpty())
		for _, r := range Routes(ctr, unix.RT_TABLE_LOCAL) {
			Expect(r).To(HaveSuffix("dev lo"))
		}

		out := MustExec(d, "cm08", "ip", "-o", "link")
		Expect(strings.Count(strings.TrimSpace(out), "\n")).To(BeZero(), "one link only:\n%s", out)
		Expect(out).To(ContainSubstring("lo:"))
		holdsToChecksVia(l, d, "E10")
	}, checksHere)
})

// `docker run -itd --name cm06 --network container:cm01 alpine`: cm06 uses
// cm01's network stack. Until the bridge driver exists cm01 runs with
// --network none; the spec checks the namespace identity, the interfaces and
// that localhost is shared.
var _ = Describe("[E11] container mode shares another container's namespace", Label("E11"), func() {
	itEachWay("has cm01's namespace, interfaces and localhost", "single", "host1", func(ctx SpecContext, l *Lab, d Docker) {
		runAll(d, e11Runs)
		ns1, ns6 := NetNSOf(d, "cm01"), NetNSOf(d, "cm06")

		Expect(Inode(ns6)).To(Equal(Inode(ns1)))
		Expect(Links(ns6)).To(Equal(Links(ns1)))
		Expect(MustExec(d, "cm06", "ip", "-o", "addr")).To(Equal(MustExec(d, "cm01", "ip", "-o", "addr")))

		By("a server on cm01's localhost answers a client in cm06")
		got, stop := acceptOne(ns1, "127.0.0.1:8080")
		defer stop()
		MustExec(d, "cm06", "sh", "-c", "echo hello-from-cm06 | nc 127.0.0.1 8080")
		Eventually(got).WithTimeout(10 * time.Second).Should(Receive(WithTransform(func(b []byte) string { return string(b) }, ContainSubstring("hello-from-cm06"))))

		By("the same port is not open on the host's loopback")
		Expect(probe.TCP(ctx, l.H("host1").NetNS(),
			netip.MustParseAddrPort("127.0.0.1:8080"), probe.Opts{Timeout: time.Second})).NotTo(Succeed())
		holdsToChecksVia(l, d, "E11")
	}, checksHere)
})

// Seed 000's cm06 on cm01 as it runs there, on the default bridge
// (`docker run -itd --name cm01 alpine`), and seed 003's form by id
// (`docker run -it --net=container:169c875f4ba0 centos /bin/bash`): both
// see cm01's eth0, its address and MAC, and its routes.
var _ = Describe("[E11] container mode on a container of the default bridge", Label("E11"), func() {
	It("gives cm06 (container:cm01) and cm07 (container:<cm01's id>) cm01's address, MAC and routes", func(ctx SpecContext) {
		l := UpLab("single")
		d := CLI(l, "host1")
		By("docker run -itd --name cm01 alpine")
		MustRun(d, Run{Name: "cm01"})
		id := containerID(l, "host1", "cm01")[:12]
		By("docker run -itd --name cm06 --network container:cm01 alpine; docker run -itd --name cm07 --network container:" + id + " alpine")
		MustRun(d, Run{Name: "cm06", Network: "container:cm01"})
		MustRun(d, Run{Name: "cm07", Network: "container:" + id})
		ns1 := NetNSOf(d, "cm01")
		Expect(LinkNamed(ns1, "eth0").Addrs).To(ConsistOf("172.17.0.2/16"))
		Expect(LinkNamed(ns1, "eth0").MAC).To(Equal(DockerMAC("172.17.0.2")))
		want := map[string]string{}
		for _, cmd := range [][]string{{"ip", "-o", "addr"}, {"ip", "-o", "link", "show", "eth0"}, {"ip", "route"}} {
			want[strings.Join(cmd, " ")] = MustExec(d, "cm01", cmd...)
		}
		for _, name := range []string{"cm06", "cm07"} {
			By("docker exec " + name + " ip -o addr; ip -o link show eth0; ip route: cm01's")
			Expect(Inode(NetNSOf(d, name))).To(Equal(Inode(ns1)), name)
			for cmd, out := range want {
				Expect(MustExec(d, name, strings.Fields(cmd)...)).To(Equal(out), "%s: %s", name, cmd)
			}
			Expect(want["ip -o addr"]).To(ContainSubstring("172.17.0.2/16"))
			Expect(want["ip -o link show eth0"]).To(ContainSubstring(DockerMAC("172.17.0.2")))
			Expect(want["ip route"]).To(ContainSubstring("default via 172.17.0.1 dev eth0"))
		}
	}, NodeTimeout(specTimeout))
})

// The containers of the three modes.
var (
	e09Run  = Run{Name: "cm05", Network: "host"}
	e10Run  = Run{Name: "cm08", Network: "none"}
	e11Runs = []Run{{Name: "cm01", Network: "none"}, {Name: "cm06", Network: "container:cm01"}}
)
