package scenarios

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	. "github.com/nslab/nslab/labtest"
)

// received matches the ping summary with one reply of busybox's ping, the
// image's own on both runtimes ("1 packets received"; iputils, on a host,
// says "1 received").
const received = `\b1 packets received\b`

// defaultBridgePair runs cm01 and cm02 on the default bridge as seed 000
// does (`docker run -dit --name cm01 alpine`, then cm02) and returns their
// namespaces.
func defaultBridgePair(d Docker) (cm01, cm02 string) {
	GinkgoHelper()
	MustRun(d, Run{Name: "cm01"})
	MustRun(d, Run{Name: "cm02"})
	return NetNSOf(d, "cm01"), NetNSOf(d, "cm02")
}

// Seed 000, "二层mac表寻址", and seed 004, "创建网络参数": each container gets
// a veth pair, the host end (veth<7 hex>) a port of docker0, the container
// end renamed eth0, an address of docker0's subnet and the default route
// via docker0; cm01 and cm02 then ping each other.
var _ = Describe("[E02] the default bridge docker0 joins cm01 and cm02", Label("E02"), func() {
	itEachWay("gives each container eth0 on 172.17.0.0/16 behind a port of docker0, and they ping each other", "single", "host1", func(ctx SpecContext, l *Lab, d Docker) {
		failsChecksVia(l, d, "E02")
		ns1, ns2 := defaultBridgePair(d)
		host := l.H("host1").NetNS()

		By("docker0 is an up bridge holding the gateway 172.17.0.1/16")
		br := LinkNamed(host, "docker0")
		Expect(br.Kind).To(Equal("bridge"))
		Expect(br.Up).To(BeTrue())
		Expect(br.Addrs).To(ConsistOf("172.17.0.1/16"))
		Expect(br.MAC).To(HavePrefix("02:42:"), "dockerd gives its bridges a 02:42 MAC")

		By("each container has lo and eth0 with its address and the default route via 172.17.0.1")
		var ports []string
		for _, c := range []struct{ name, ns, addr string }{
			{"cm01", ns1, "172.17.0.2/16"},
			{"cm02", ns2, "172.17.0.3/16"},
		} {
			Expect(LinkNames(c.ns)).To(ConsistOf("lo", "eth0"), c.name)
			eth0 := LinkNamed(c.ns, "eth0")
			Expect(eth0.Kind).To(Equal("veth"), c.name)
			Expect(eth0.Up).To(BeTrue(), c.name)
			Expect(eth0.Addrs).To(ConsistOf(c.addr), c.name)
			Expect(Routes(c.ns, unix.RT_TABLE_MAIN)).To(ConsistOf(
				"default via 172.17.0.1 dev eth0", "172.17.0.0/16 dev eth0"), c.name)

			port := PortOf(host, "docker0", eth0)
			Expect(port.Name).To(MatchRegexp(`^veth[0-9a-f]{7}$`), "host end of %s's eth0", c.name)
			Expect(port.Up).To(BeTrue(), "host end of %s's eth0", c.name)
			ports = append(ports, port.Name)
		}
		Expect(BridgePorts(host, "docker0")).To(HaveLen(2), "docker0 has one port per container")

		By("brctl show and bridge link in the host list both ports of docker0")
		brctl := l.Sh("host1", "brctl show")
		Expect(brctl).To(MatchRegexp(`(?m)^docker0\s`))
		links := l.Sh("host1", "bridge link")
		for _, p := range ports {
			Expect(brctl).To(ContainSubstring(p))
			Expect(links).To(MatchRegexp(`(?m)^\d+: %s@\S+: .* master docker0 `, regexp.QuoteMeta(p)))
		}

		By("cm01 and cm02 ping each other by IP")
		ExpectPing(ns1, "172.17.0.3")
		ExpectPing(ns2, "172.17.0.2")
		Expect(MustExec(d, "cm01", "ping", "-c", "1", "-W", "2", "172.17.0.3")).To(MatchRegexp(received))
		Expect(MustExec(d, "cm02", "ping", "-c", "1", "-W", "2", "172.17.0.2")).To(MatchRegexp(received))
		holdsToChecksVia(l, d, "E02")
	}, checksHere)

	// Seed 000, "docker网络原理介绍": the if20 outside connects cm01's if21,
	// "the numbers are not fixed". Docker makes the pair in the host and
	// moves the container's end: the two carry neighbouring numbers of the
	// host's count, read in `ip a` on both sides as each other's @ifN.
	It("gives eth0 and its host side neighbouring interface numbers, each the other's @ifN (seed 000's if20 and if21)", func(ctx SpecContext) {
		l := UpLab("single")
		d := CLI(l, "host1")
		By("docker run -dit --name cm01 alpine; docker run -dit --name cm02 alpine")
		defaultBridgePair(d)
		host := l.Sh("host1", "ip -o link show")
		for _, name := range []string{"cm01", "cm02"} {
			By("docker exec " + name + " ip -o link show eth0; ip -o link show (the host)")
			m := regexp.MustCompile(`^(\d+): eth0@if(\d+):`).FindStringSubmatch(MustExec(d, name, "ip", "-o", "link", "show", "eth0"))
			Expect(m).NotTo(BeNil(), "%s: eth0@ifN", name)
			Expect(m[1]).NotTo(Equal("2"), "%s: eth0 numbered as born in its namespace, not as made in the host and moved", name)
			peer := regexp.MustCompile(`(?m)^` + m[2] + `: (veth[0-9a-f]{7})@if` + m[1] + `: .* master docker0 `).FindStringSubmatch(host)
			Expect(peer).NotTo(BeNil(), "%s: eth0 is %s@if%s; the host has no %s: vethXXXXXXX@if%s, port of docker0:\n%s", name, m[1], m[2], m[2], m[1], host)
			in, _ := strconv.Atoi(m[1])
			out, _ := strconv.Atoi(m[2])
			Expect(out).To(Equal(in+1), "%s: the host side's number follows eth0's", name)
		}
	}, NodeTimeout(specTimeout))
})

// Seed 000: after cm01 and cm02 pinged each other, `brctl showmacs docker0`
// lists 02:42:ac:11:00:02 and 02:42:ac:11:00:03, not local, each on the port
// whose own (local) MAC sits on the same port number.
var _ = Describe("[E03] docker0 learns the containers' MACs", Label("E03"), func() {
	itEachWay("holds both container MACs, derived from their IPv4 addresses, on the right ports after the ping", "single", "host1", func(ctx SpecContext, l *Lab, d Docker) {
		ns1, ns2 := defaultBridgePair(d)
		host := l.H("host1").NetNS()

		By("each eth0 has Docker's MAC: 02:42 and the four bytes of its IPv4 address")
		eth1, eth2 := LinkNamed(ns1, "eth0"), LinkNamed(ns2, "eth0")
		Expect(eth1.MAC).To(Equal("02:42:ac:11:00:02"))
		Expect(eth2.MAC).To(Equal("02:42:ac:11:00:03"))
		for _, e := range []Link{eth1, eth2} {
			Expect(e.Addrs).To(HaveLen(1))
			Expect(e.MAC).To(Equal(DockerMAC(strings.Split(e.Addrs[0], "/")[0])))
		}
		p1, p2 := PortOf(host, "docker0", eth1), PortOf(host, "docker0", eth2)

		By("互ping后: cm01 and cm02 ping each other")
		ExpectPing(ns1, "172.17.0.3")
		ExpectPing(ns2, "172.17.0.2")

		By("docker0's FDB holds each container MAC on the port paired with its eth0, and each port's own MAC as local")
		fdb := BridgeFDB(host, "docker0")
		var learned []FDBEntry
		for _, e := range fdb {
			if e.MAC == eth1.MAC || e.MAC == eth2.MAC {
				learned = append(learned, e)
			}
		}
		Expect(learned).To(ConsistOf(
			FDBEntry{MAC: eth1.MAC, Port: p1.Name, Local: false},
			FDBEntry{MAC: eth2.MAC, Port: p2.Name, Local: false}), "FDB: %+v", fdb)
		Expect(fdb).To(ContainElements(
			FDBEntry{MAC: p1.MAC, Port: p1.Name, Local: true},
			FDBEntry{MAC: p2.MAC, Port: p2.Name, Local: true}))

		By("brctl showmacs docker0 shows the same: each container MAC on its veth's port number, not local")
		out := l.Sh("host1", "brctl showmacs docker0")
		portNo := showmacs(out)
		for _, c := range []struct {
			ctr  Link
			port Link
		}{{eth1, p1}, {eth2, p2}} {
			Expect(portNo).To(HaveKey(c.ctr.MAC), out)
			Expect(portNo).To(HaveKey(c.port.MAC), out)
			Expect(portNo[c.ctr.MAC]).To(Equal(portNo[c.port.MAC]),
				"%s must sit on the port of %s (%s):\n%s", c.ctr.MAC, c.port.Name, c.port.MAC, out)
			Expect(out).To(MatchRegexp(`(?m)^\s*\d+\s+%s\s+no\s`, regexp.QuoteMeta(c.ctr.MAC)))
		}
		Expect(portNo[eth1.MAC]).NotTo(Equal(portNo[eth2.MAC]))
		holdsToChecksVia(l, d, "E03")
	}, checksHere)
})

// showmacs reads `brctl showmacs` output into MAC -> port number.
func showmacs(out string) map[string]string {
	GinkgoHelper()
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		if prev, ok := m[f[1]]; ok && prev != f[0] {
			Fail(fmt.Sprintf("brctl showmacs lists %s on ports %s and %s:\n%s", f[1], prev, f[0], out))
		}
		m[f[1]] = f[0]
	}
	return m
}
