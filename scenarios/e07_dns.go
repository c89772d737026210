package scenarios

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns/probe"
)

// embeddedDNS is where Docker's resolver answers inside a container of a
// user-defined network.
var embeddedDNS = netip.MustParseAddrPort("127.0.0.11:53")

// noName matches a ping that could not resolve its target: busybox's
// "ping: bad address 'cm04'" (exit 1; alpine's, and the reference image's)
// or iputils' "ping: cm04: Name or service not known" / "Temporary failure
// in name resolution" (exit 2; the machine's ping, which hostd's containers
// find first).
const noName = `ping: bad address '%[1]s'|ping: %[1]s: (Name or service not known|Temporary failure in name resolution)`

// Seed 000, "自定义网桥的域名访问": "在用户自定义的网络类型中,自带了域名解析
// 功能,可以使用域名直接进行访问" — on a user-defined network containers
// reach each other by name. Docker's embedded resolver at 127.0.0.11
// answers the names, network aliases and short ids of the containers on
// the same network, and resolv.conf points at it; any other name it
// forwards to the virtual host's resolvers (here dns1, a lab address: the
// machine's resolver is never asked). On the default bridge there is no
// embedded resolver and a container's name does not resolve.
var _ = Describe("[E07] names resolve on a user-defined bridge through the embedded DNS, not on the default bridge", Label("E07"), func() {
	itEachWay("answers cm02's name, alias and short id at 127.0.0.11 on br1, still after docker restart, asks nothing outside the lab, and resolves nothing on docker0", "dns", "host1", func(nodeCtx SpecContext, l *Lab, d Docker) {
		failsChecksVia(l, d, "E07")
		host := l.H("host1")
		// host1's resolver (dns: in the topology): it knows one name.
		upstream := serveLabDNS(l.H("dns1").NetNS(), "192.168.99.53:53", map[string]string{"www.example.com.": "192.0.2.80"})

		By("docker network create -d bridge br1; docker run -itd --name cm01 --network br1 alpine; docker run -itd --name cm02 --network br1 --network-alias db alpine")
		e07UserBridge(d)
		ns1, ns2 := NetNSOf(d, "cm01"), NetNSOf(d, "cm02")
		cm01, cm02 := ipv4Of(ns1, "eth0"), ipv4Of(ns2, "eth0")
		Expect(cm01.String()).To(Equal("172.18.0.2"))
		Expect(cm02.String()).To(Equal("172.18.0.3"))
		// Docker's hostname of a container is its short id.
		id2 := strings.TrimSpace(MustExec(d, "cm02", "hostname"))
		Expect(id2).To(MatchRegexp(`^[0-9a-f]{12}$`))

		By("resolv.conf in cm01 is Docker's: nameserver 127.0.0.11, options ndots:0")
		Expect(MustExec(d, "cm01", "cat", "/etc/resolv.conf")).To(Equal(dockerFixture("a1-resolv.txt")))

		By("docker exec cm01 ping -c 1 cm02, and the same by its alias db and its short id")
		for _, name := range []string{"cm02", "db", id2} {
			out := MustExec(d, "cm01", "ping", "-c", "1", "-W", "2", name)
			Expect(out).To(MatchRegexp(received), "ping %s", name)
			Expect(out).To(ContainSubstring("PING %s (%s)", name, cm02), "ping %s", name)
		}

		By("a DNS query from cm01's namespace to 127.0.0.11 gets cm02's address for each of its names")
		for _, name := range []string{"cm02", "db", id2} {
			Expect(resolve(ns1, name)).To(ConsistOf(cm02), "A %s @%s", name, embeddedDNS)
		}
		Expect(resolve(ns2, "cm01")).To(ConsistOf(cm01), "A cm01 @%s from cm02", embeddedDNS)

		By("a name outside the lab's containers goes to host1's resolver dns1 (a lab address) and nowhere else")
		eth1 := StartCapture(host.NetNS(), "eth1")
		Expect(resolve(ns1, "www.example.com")).To(ConsistOf(netip.MustParseAddr("192.0.2.80")), "www.example.com, as dns1 answers it")
		addrs, _, err := probe.DNS(nodeCtx, ns1, embeddedDNS, "nowhere.example.com", dns.TypeA, probe.Opts{Timeout: probeTimeout})
		Expect(addrs).To(BeEmpty(), "nowhere.example.com was answered")
		var rc *probe.RcodeError
		Expect(errors.As(err, &rc)).To(BeTrue(), "nowhere.example.com: want dns1's NXDOMAIN, got %v", err)
		Expect(rc.Rcode).To(Equal(dns.RcodeNameError), "nowhere.example.com")
		lab, toDNS1 := netip.MustParsePrefix("192.168.99.0/24"), 0
		for _, f := range StopCapture(eth1) {
			if f.Dst == "" {
				continue
			}
			// The kernel's own multicast (IGMP reports) stays on the segment.
			if dst := netip.MustParseAddr(f.Dst); !dst.IsMulticast() {
				Expect(lab.Contains(dst)).To(BeTrue(), "left host1 for outside the lab: %s", f)
			}
			if f.Dst == "192.168.99.53" {
				toDNS1++
			}
		}
		Expect(toDNS1).To(BeNumerically(">=", 2), "the forwarded queries on eth1")
		Expect(upstream.asked()).To(ContainElements("www.example.com.", "nowhere.example.com."))
		for _, name := range []string{"cm01", "cm02", "db", id2} {
			Expect(upstream.asked()).NotTo(ContainElement(HavePrefix(name+".")), "the embedded DNS forwarded a name it knows")
		}

		By("docker restart cm02: cm01 still resolves cm02, and cm02 resolves cm01")
		MustDo(d, "restart cm02", func(ctx context.Context) error { return d.Restart(ctx, "cm02") })
		ns2 = NetNSOf(d, "cm02")
		cm02 = ipv4Of(ns2, "eth0")
		// The answer may lag the restart by a moment, never longer.
		Eventually(func(g Gomega) {
			addrs, _, err := probe.DNS(nodeCtx, ns1, embeddedDNS, "cm02", dns.TypeA, probe.Opts{Timeout: time.Second})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(addrs).To(ConsistOf(cm02))
		}, probeTimeout).Should(Succeed(), "A cm02 @%s from cm01 after docker restart cm02", embeddedDNS)
		Expect(resolve(ns2, "cm01")).To(ConsistOf(cm01))
		Expect(MustExec(d, "cm01", "ping", "-c", "1", "-W", "2", "cm02")).To(MatchRegexp(received))
		Expect(MustExec(d, "cm02", "ping", "-c", "1", "-W", "2", "cm01")).To(MatchRegexp(received))
		Expect(MustExec(d, "cm02", "cat", "/etc/resolv.conf")).To(Equal(dockerFixture("a1-resolv.txt")))

		By("on the default bridge: docker run -itd --name cm03 alpine; docker run -itd --name cm04 alpine; cm04 does not resolve in cm03")
		e07DefaultBridge(d)
		ns3 := NetNSOf(d, "cm03")
		Expect(MustExec(d, "cm03", "cat", "/etc/resolv.conf")).NotTo(ContainSubstring("127.0.0.11"))
		ctx, cancel := context.WithTimeout(nodeCtx, StepTimeout)
		defer cancel()
		r, err := d.Exec(ctx, "cm03", "ping", "-c", "1", "-W", "1", "cm04")
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Stdout + r.Stderr).To(MatchRegexp(noName, "cm04"))
		code := 2 // iputils: the name did not resolve
		if strings.Contains(r.Stderr, "bad address") {
			code = 1 // busybox
		}
		Expect(r.ExitCode).To(Equal(code), "ping cm04 on the default bridge: %+v", r)
		_, _, err = probe.DNS(nodeCtx, ns3, embeddedDNS, "cm04", dns.TypeA, probe.Opts{Timeout: silenceTimeout})
		Expect(err).To(HaveOccurred(), "something answers at %s on the default bridge", embeddedDNS)
		holdsToChecksVia(l, d, "E07")
	}, checksHere)
})

// labDNS is a resolver inside the lab that answers a few names and says
// NXDOMAIN, authoritatively, to every other; it remembers what it was
// asked.
type labDNS struct {
	mu    sync.Mutex
	names []string
}

func (r *labDNS) asked() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.names)
}

// serveLabDNS serves a labDNS on addr (UDP and TCP) inside the namespace
// at ns until the spec ends.
func serveLabDNS(ns, addr string, a map[string]string) *labDNS {
	GinkgoHelper()
	r := &labDNS{}
	srv, err := probe.ServeDNS(ns, addr, dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		for _, qq := range q.Question {
			r.mu.Lock()
			r.names = append(r.names, strings.ToLower(qq.Name))
			r.mu.Unlock()
			ip, ok := a[strings.ToLower(qq.Name)]
			switch {
			case !ok:
				m.Rcode = dns.RcodeNameError
			case qq.Qtype == dns.TypeA:
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: netip.MustParseAddr(ip).AsSlice()})
			}
		}
		w.WriteMsg(m)
	}))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(srv.Close)
	return r
}

// resolve asks the embedded DNS, from inside the namespace at ns, for the
// A records of name; the spec fails without an answer.
func resolve(ns, name string) []netip.Addr {
	GinkgoHelper()
	addrs, _, err := probe.DNS(NodeContext(), ns, embeddedDNS, name, dns.TypeA, probe.Opts{Timeout: probeTimeout})
	Expect(err).NotTo(HaveOccurred())
	return addrs
}

// ipv4Of is the IPv4 address of the named link in the namespace at ns.
func ipv4Of(ns, link string) netip.Addr {
	GinkgoHelper()
	l := LinkNamed(ns, link)
	Expect(l.Addrs).To(HaveLen(1), "%s in %s", link, ns)
	return netip.MustParsePrefix(l.Addrs[0]).Addr()
}

// dockerFixture is a file of fixtures/docker-20.10: what a real Docker
// 20.10 wrote (see its README for how it was taken).
func dockerFixture(name string) string {
	GinkgoHelper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(Fixture("x")), "docker-20.10", name))
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// e07UserBridge creates br1 and runs cm01 and cm02 (alias db) on it.
func e07UserBridge(d Docker) {
	GinkgoHelper()
	MustNetworkCreate(d, NetworkCreate{Name: "br1", Driver: "bridge"})
	MustRun(d, Run{Name: "cm01", Network: "br1"})
	MustRun(d, Run{Name: "cm02", Network: "br1", Aliases: []string{"db"}})
}

// e07DefaultBridge runs cm03 and cm04 on the default bridge.
func e07DefaultBridge(d Docker) {
	GinkgoHelper()
	MustRun(d, Run{Name: "cm03"})
	MustRun(d, Run{Name: "cm04"})
}
