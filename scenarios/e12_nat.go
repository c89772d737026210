package scenarios

import (
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/lab"
	. "github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns/probe"
)

// natHost is a docker host of fixtures/nat.yaml with the firewall backend
// its topology gives it.
type natHost struct {
	name, addr string
	backend    string // "iptables" or "nftables"
}

// natHosts are fixtures/nat.yaml's docker hosts: host1 writes Docker's
// rules with iptables, host2 with nftables.
var natHosts = []natHost{
	{name: "host1", addr: "192.168.99.101", backend: "iptables"},
	{name: "host2", addr: "192.168.99.102", backend: "nftables"},
}

// itEachNatHost declares the spec once per docker host of a nat fixture
// (natHosts, one firewall backend each) and way of driving its daemon;
// text names the spec for the host and the other docker host, from which
// the spec may reach it. A host whose backend the runtime does not have
// skips before a lab comes up. host1Decorations decorate host1's specs
// only (checksHere: the NAT exercises' checks files are host1's, in
// iptables' words).
func itEachNatHost(text func(h, other natHost) string, fixture string, body func(ctx SpecContext, l *Lab, d Docker, h, other natHost), host1Decorations ...any) {
	for i, h := range natHosts {
		other := natHosts[1-i]
		var decorations []any
		if h.name == "host1" {
			decorations = host1Decorations
		}
		eachWay(text(h, other), decorations, func(ctx SpecContext, w dockerWay) {
			h.skipUnlessBackend()
			l := UpLab(fixture)
			d := w(l, h.name)
			By("via " + d.Via() + " on " + h.name + ", firewall " + h.backend)
			body(ctx, l, d, h, other)
		})
	}
}

// internetAddr is the outside host of fixtures/nat.yaml, beyond the router.
const internetAddr = "203.0.113.80"

// skipUnlessBackend skips a spec of the nftables backend on a runtime that
// has none: real Docker 20.10 writes its rules with iptables only (the lab
// runs the same dockerd on host2 as on host1).
func (h natHost) skipUnlessBackend() {
	if h.backend == "nftables" && current.Name() != lab.RuntimeHostd {
		Skip(fmt.Sprintf("the nftables backend is hostd's: Docker 20.10 on %s writes its rules with iptables only", current.Name()))
	}
}

// natTable is the host's nat table as its backend keeps it:
// `iptables-save -t nat`, or `nft list table ip docker-nat`.
func (h natHost) natTable(l *Lab) string {
	GinkgoHelper()
	if h.backend == "nftables" {
		return l.Sh(h.name, "nft list table ip docker-nat")
	}
	return l.Sh(h.name, "iptables-save -t nat")
}

// filterTable is the host's filter table as its backend keeps it.
func (h natHost) filterTable(l *Lab) string {
	GinkgoHelper()
	if h.backend == "nftables" {
		return l.Sh(h.name, "nft list table ip docker-filter")
	}
	return l.Sh(h.name, "iptables-save -t filter")
}

// masquerade matches the rule Docker writes for a bridge network's subnet
// leaving through any other interface, in the backend's own words.
func (h natHost) masquerade(subnet, bridge string) string {
	if h.backend == "nftables" {
		return fmt.Sprintf(`(?m)^\s*ip saddr %s oifname != "%s" counter packets \d+ bytes \d+ masquerade\b`,
			regexp.QuoteMeta(subnet), regexp.QuoteMeta(bridge))
	}
	return fmt.Sprintf(`(?m)^-A POSTROUTING -s %s ! -o %s -j MASQUERADE$`, regexp.QuoteMeta(subnet), regexp.QuoteMeta(bridge))
}

// peerRecorder is an HTTP server on the outside host that notes the source
// address of every request: what the far side sees.
type peerRecorder struct {
	mu    sync.Mutex
	peers []string
}

func (p *peerRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	p.mu.Lock()
	p.peers = append(p.peers, host)
	p.mu.Unlock()
	fmt.Fprintln(w, "hello from the internet")
}

func (p *peerRecorder) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.peers...)
}

// serveInternet starts the recorder on the outside host, port 8080.
func serveInternet(l *Lab) *peerRecorder {
	GinkgoHelper()
	rec := &peerRecorder{}
	srv, err := probe.ServeHTTP(l.H("internet").NetNS(), internetAddr+":8080", rec)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(srv.Close)
	return rec
}

// Seeds 001 and 002, "容器访问外网": a container reaches a host outside its
// virtual host through the MASQUERADE rule Docker writes for each bridge
// network (`-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE`).
// The outside host ("internet", 203.0.113.80) routes back to the LAN only,
// so it sees, and answers, the docker host's underlay address; a network
// created with enable_ip_masquerade=false leaves with the container's own
// address, which the outside host cannot answer.
var _ = Describe("[E12] outbound access through NAT (MASQUERADE)", Label("E12"), func() {
	itEachNatHost(func(h, _ natHost) string {
		return fmt.Sprintf("%s (%s): containers on docker0 and on a user bridge reach the internet host as %s; without masquerading they do not", h.name, h.backend, h.addr)
	}, "nat", func(ctx SpecContext, l *Lab, d Docker, h, _ natHost) {
		inet := l.H("internet").NetNS()
		rec := serveInternet(l)

		By("Docker turned forwarding on and, having done so, set the FORWARD policy to drop")
		Expect(l.Sh(h.name, "sysctl -n net.ipv4.ip_forward")).To(Equal("1\n"))
		if h.backend == "nftables" {
			Expect(l.Sh(h.name, "nft list chain ip docker-filter FORWARD")).To(MatchRegexp(`type filter hook forward priority (filter|0); policy drop;`))
		} else {
			Expect(l.Sh(h.name, "iptables -S FORWARD")).To(HavePrefix("-P FORWARD DROP\n"))
		}

		By("docker run -itd --name web alpine: the MASQUERADE rule of docker0 is there as Docker writes it")
		MustRun(d, e12Web)
		web := NetNSOf(d, "web")
		Expect(h.natTable(l)).To(MatchRegexp(h.masquerade("172.17.0.0/16", "docker0")))

		By("docker exec web wget -q -O - http://203.0.113.80:8080/: the internet host answers, and saw " + h.addr)
		Expect(MustExec(d, "web", "wget", "-q", "-O", "-", "http://"+internetAddr+":8080/")).To(Equal("hello from the internet\n"))
		Expect(rec.seen()).To(ConsistOf(h.addr))

		By("docker exec web ping 203.0.113.80: on the internet host's wire the request comes from " + h.addr)
		c := StartCapture(inet, "eth1")
		ExpectPing(web, internetAddr)
		Expect(MustExec(d, "web", "ping", "-c", "1", "-W", "2", internetAddr)).To(MatchRegexp(received))
		frames := StopCapture(c)
		Expect(frames).To(ContainElement(And(HaveField("Src", h.addr), HaveField("Dst", internetAddr), HaveField("ICMP", "EchoRequest"))))
		Expect(frames).To(ContainElement(And(HaveField("Src", internetAddr), HaveField("Dst", h.addr), HaveField("ICMP", "EchoReply"))))
		Expect(frames).NotTo(ContainElement(HaveField("Src", HavePrefix("172."))), "a container address reached the internet host")

		By("docker network create -d bridge br1; docker run -itd --name web1 --network br1 alpine: br1's subnet is masqueraded too")
		id := MustNetworkCreate(d, NetworkCreate{Name: "br1", Driver: "bridge"})
		br1 := "br-" + id[:12]
		subnet := MustNetworkInspect(d, "br1").IPAM.Config[0].Subnet.String()
		Expect(subnet).To(Equal("172.18.0.0/16"))
		Expect(h.natTable(l)).To(MatchRegexp(h.masquerade(subnet, br1)))
		MustRun(d, Run{Name: "web1", Network: "br1"})
		web1 := NetNSOf(d, "web1")
		status, body, err := probe.HTTPGet(ctx, web1, "http://"+internetAddr+":8080/", probe.Opts{Timeout: probeTimeout})
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(http.StatusOK))
		Expect(string(body)).To(Equal("hello from the internet\n"))
		Expect(rec.seen()).To(ConsistOf(h.addr, h.addr))

		By("docker network create -o com.docker.network.bridge.enable_ip_masquerade=false nomasq: no rule, and the internet host sees the container's own address and cannot answer it")
		id = MustNetworkCreate(d, NetworkCreate{Name: "nomasq", Options: map[string]string{"com.docker.network.bridge.enable_ip_masquerade": "false"}})
		nomasq := "br-" + id[:12]
		subnet = MustNetworkInspect(d, "nomasq").IPAM.Config[0].Subnet.String()
		Expect(subnet).To(Equal("172.19.0.0/16"))
		nat := h.natTable(l)
		Expect(nat).NotTo(ContainSubstring(strings.TrimSuffix(subnet, "/16")), "a rule for the unmasqueraded subnet")
		Expect(nat).NotTo(ContainSubstring(nomasq))
		MustRun(d, Run{Name: "plain", Network: "nomasq"})
		plain := NetNSOf(d, "plain")
		c = StartCapture(inet, "eth1")
		ExpectNoPing(plain, internetAddr)
		frames = StopCapture(c)
		Expect(frames).To(ContainElement(And(HaveField("Src", "172.19.0.2"), HaveField("Dst", internetAddr), HaveField("ICMP", "EchoRequest"))))
		Expect(frames).NotTo(ContainElement(HaveField("ICMP", "EchoReply")))
		Expect(rec.seen()).To(HaveLen(2))

		By("the drop policy at work: routed in from the LAN, a packet for a container falls through FORWARD until DOCKER-USER lets it in")
		l.Sh("router", "ip route add 172.17.0.0/16 via "+h.addr)
		router := l.H("router").NetNS()
		ExpectNoPing(router, "172.17.0.2")
		if h.backend == "nftables" {
			l.Sh(h.name, `nft insert rule ip docker-filter DOCKER-USER iifname "eth1" oifname "docker0" accept`)
		} else {
			l.Sh(h.name, "iptables -I DOCKER-USER -i eth1 -o docker0 -j ACCEPT")
		}
		ExpectPing(router, "172.17.0.2")
		if h.name == "host1" {
			holdsToChecksVia(l, d, "E12")
		}
	}, checksHere)
})

// e12Web is the container that goes out to the internet host.
var e12Web = Run{Name: "web"}
