package scenarios

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/lab"
	. "github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns/probe"
)

// Seed 000, "给容器设置别名来使用网络": on the default bridge, where names do
// not resolve, `--link=cm01:test` "相当于将cm01与test做解析的绑定": cm02 gets
// cm01 under the name test in its /etc/hosts (alias, short id, name) and
// the link variables in its environment, as fixtures/docker-20.10 recorded
// them from a real Docker 20.10 (cm02-hosts.txt, cm02-env.txt).
var _ = Describe("[E08] --link=cm01:test on the default bridge", Label("E08"), func() {
	itEachWay("lets cm02 ping cm01 as test, with Docker's /etc/hosts lines and link variables", "single", "host1", func(ctx SpecContext, l *Lab, d Docker) {

		By("docker run -itd --name cm01 alpine /bin/ash; docker run -itd --name cm02 --link=cm01:test alpine /bin/ash")
		e08Link(d)
		ns2 := NetNSOf(d, "cm02")
		Expect(MustExec(d, "cm01", "ip", "a")).To(ContainSubstring("inet 172.17.0.2/16"))
		Expect(MustExec(d, "cm02", "ip", "a")).To(ContainSubstring("inet 172.17.0.3/16"))

		By("docker exec cm02 ping -c 1 test reaches cm01 (172.17.0.2)")
		out := MustExec(d, "cm02", "ping", "-c", "1", "-W", "2", "test")
		Expect(out).To(MatchRegexp(received))
		Expect(out).To(ContainSubstring("PING test (172.17.0.2)"))
		ExpectPing(ns2, "172.17.0.2")

		ids := shortIDs(d, "cm01", "cm02")
		By("cm02's /etc/hosts is Docker's: the link line (alias, short id, name), then its own")
		Expect(ids.normalise(MustExec(d, "cm02", "cat", "/etc/hosts"))).To(Equal(fixtureIDs("cm02-hosts.txt").normalise(dockerFixture("cm02-hosts.txt"))))

		By("docker exec cm02 env: Docker's variables in Docker's order, TEST_NAME=/cm02/test among them")
		Expect(envOf(d, "cm02", ids)).To(Equal(fixtureEnv("cm02-env.txt", d, "cm02")))

		By("with ICC on (the default), Docker adds no rule for the link")
		Expect(l.Sh("host1", "iptables-save -t filter")).NotTo(ContainSubstring("-s 172.17.0.3/32 -d 172.17.0.2/32"))
		holdsToChecksVia(l, d, "E08")
	}, checksHere)

	// dockerd --icc=false: docker0 drops what its containers send each
	// other, and a link accepts, in the DOCKER chain, the linking
	// container's traffic to the exposed ports of its target and the
	// answers (libnetwork's bridge link.go).
	for _, fw := range []string{"iptables", "nftables"} {
		itEachWayOwn(fmt.Sprintf("with --icc=false (%s): only the linked container reaches cm01, on the exposed port, through the link's rules", fw), func(ctx SpecContext, way dockerWay) {
			if fw == "nftables" && current.Name() != lab.RuntimeHostd {
				// Docker 20.10's only firewall is iptables: the
				// nftables backend is hostd's.
				Skip(fmt.Sprintf("on %s: Docker 20.10 writes its rules with iptables only; the nftables backend is hostd's", current.Name()))
			}
			l := UpLab("noicc-" + fw)
			d := way(l, "host1")
			By("via " + d.Via())

			By("docker run -itd --name cm01 --expose 80 alpine /bin/ash; docker run -itd --name cm02 --link=cm01:test alpine /bin/ash; docker run -itd --name cm03 alpine /bin/ash")
			MustRun(d, Run{Name: "cm01", Expose: []string{"80"}, Cmd: []string{"/bin/ash"}})
			MustRun(d, Run{Name: "cm02", Links: []string{"cm01:test"}, Cmd: []string{"/bin/ash"}})
			MustRun(d, Run{Name: "cm03", Cmd: []string{"/bin/ash"}})
			ns1, ns2, ns3 := NetNSOf(d, "cm01"), NetNSOf(d, "cm02"), NetNSOf(d, "cm03")
			Expect(ipv4Of(ns1, "eth0").String()).To(Equal("172.17.0.2"))
			Expect(ipv4Of(ns2, "eth0").String()).To(Equal("172.17.0.3"))
			Expect(ipv4Of(ns3, "eth0").String()).To(Equal("172.17.0.4"))
			Expect(MustNetworkInspect(d, "bridge").Options).To(HaveKeyWithValue("com.docker.network.bridge.enable_icc", "false"))

			By("cm02's environment has the variables of the exposed port")
			env := MustExec(d, "cm02", "env")
			for _, v := range []string{
				"TEST_PORT=tcp://172.17.0.2:80",
				"TEST_PORT_80_TCP=tcp://172.17.0.2:80",
				"TEST_PORT_80_TCP_ADDR=172.17.0.2",
				"TEST_PORT_80_TCP_PORT=80",
				"TEST_PORT_80_TCP_PROTO=tcp",
				"TEST_NAME=/cm02/test",
			} {
				Expect(strings.Split(env, "\n")).To(ContainElement(v))
			}

			By("a server on cm01:80; cm02 connects to it, cm03 (not linked) cannot; neither pings cm01")
			srv, err := probe.ServeTCPEcho(ns1, "0.0.0.0:80")
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(srv.Close)
			cm01 := netip.MustParseAddrPort("172.17.0.2:80")
			Expect(probe.TCP(ctx, ns2, cm01, probe.Opts{Timeout: probeTimeout})).To(Succeed())
			ExpectSilent(NoTCP(ns3, cm01), NoPing(ns2, "172.17.0.2"), NoPing(ns3, "172.17.0.2"))

			By("the rules: docker0's DROP and the link's two ACCEPTs in DOCKER")
			Expect(linkRules(l, fw)).To(ConsistOf(
				"FORWARD: -i docker0 -o docker0 drop",
				"DOCKER: -s 172.17.0.3 -d 172.17.0.2 -i docker0 -o docker0 tcp dport 80 accept",
				"DOCKER: -s 172.17.0.2 -d 172.17.0.3 -i docker0 -o docker0 tcp sport 80 accept"))

			By("docker rm -f cm02: the link's rules go with it")
			MustDo(d, "rm -f cm02", func(ctx context.Context) error { return d.Remove(ctx, "cm02") })
			Expect(linkRules(l, fw)).To(ConsistOf("FORWARD: -i docker0 -o docker0 drop"))
		}, Label(fw))
	}
})

// idMap replaces containers' short ids by <id:name>.
type idMap map[string]string

func (m idMap) normalise(s string) string {
	for id, name := range m {
		s = strings.ReplaceAll(s, id, "<id:"+name+">")
	}
	return s
}

// shortIDs maps the named containers' short ids (their hostnames, as
// Docker sets them) to their names.
func shortIDs(d Docker, names ...string) idMap {
	GinkgoHelper()
	m := idMap{}
	for _, n := range names {
		id := strings.TrimSpace(MustExec(d, n, "hostname"))
		Expect(id).To(MatchRegexp(`^[0-9a-f]{12}$`), "hostname of %s", n)
		m[id] = n
	}
	return m
}

// fixtureIDs reads the ids of the recorded run from cm02-hosts.txt: cm01's
// is on the line that ends in "cm01", cm02's is the last line's name.
func fixtureIDs(hostsFile string) idMap {
	GinkgoHelper()
	lines := strings.Split(strings.TrimSpace(dockerFixture(hostsFile)), "\n")
	m := idMap{}
	link := regexp.MustCompile(`\s([0-9a-f]{12}) cm01$`)
	for _, l := range lines {
		if s := link.FindStringSubmatch(l); s != nil {
			m[s[1]] = "cm01"
		}
	}
	own := strings.Fields(lines[len(lines)-1])
	Expect(own).To(HaveLen(2), "last line of %s", hostsFile)
	m[own[1]] = "cm02"
	Expect(m).To(HaveLen(2), "ids in %s", hostsFile)
	return m
}

// envOf is `docker exec NAME env` with ids normalised.
func envOf(d Docker, name string, ids idMap) []string {
	GinkgoHelper()
	return strings.Split(strings.TrimSpace(ids.normalise(MustExec(d, name, "env"))), "\n")
}

// fixtureEnv is a recorded `env` with the recorded ids normalised. Two
// values depend on the container's file system rather than on Docker:
// HOME is root's home in the container's /etc/passwd (the fixture's image
// has none, hence "/"), and PATH is Docker's default, which hostd follows
// with its busybox applet directory (the machine's file system lacks some
// of alpine's tools); both are taken as the container shows them when they
// keep to that.
func fixtureEnv(file string, d Docker, name string) []string {
	GinkgoHelper()
	want := strings.Split(strings.TrimSpace(fixtureIDs("cm02-hosts.txt").normalise(dockerFixture(file))), "\n")
	home := strings.TrimSpace(MustExec(d, name, "sh", "-c", `h=$(grep '^root:' /etc/passwd 2>/dev/null | cut -d: -f6); echo "${h:-/}"`))
	path := strings.TrimSpace(MustExec(d, name, "sh", "-c", `echo "$PATH"`))
	for i, kv := range want {
		if v, ok := strings.CutPrefix(kv, "HOME="); ok && v == "/" {
			want[i] = "HOME=" + home
		}
		// Docker's PATH, or Docker's and one more directory after it.
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			if extra, ok := strings.CutPrefix(path, v+":"); ok && extra != "" && !strings.Contains(extra, ":") {
				want[i] = "PATH=" + path
			}
		}
	}
	return want
}

// ruleRE reads the link-related rules of both backends: iptables-save's
// "-A CHAIN -s A/32 -d B/32 -i I -o O -p tcp -m tcp --dport P -j ACCEPT"
// and nft's "ip saddr A ip daddr B iifname "I" oifname "O" tcp dport P
// counter ... accept".
var (
	iptLinkRE = regexp.MustCompile(`^-A (DOCKER|FORWARD) (?:-s (\S+)/32 -d (\S+)/32 )?-i (\S+) -o (\S+) (?:-p (tcp|udp) -m (?:tcp|udp) --([ds]port) (\d+) )?-j (ACCEPT|DROP)$`)
	nftLinkRE = regexp.MustCompile(`^(?:ip saddr (\S+) ip daddr (\S+) )?iifname "(\S+)" oifname "(\S+)" (?:(tcp|udp) ([ds]port) (\d+) )?counter packets \d+ bytes \d+ (accept|drop)\b`)
)

// linkRules lists, in one form for both backends, the host's filter rules
// between two ports of docker0: the FORWARD ICC rule and the DOCKER
// chain's link rules, as "CHAIN: [-s A -d B ]-i I -o O [proto xport P ]verdict".
func linkRules(l *Lab, fw string) []string {
	GinkgoHelper()
	var out []string
	add := func(chain, s, d, in, o, proto, dir, port, verdict string) {
		r := chain + ": "
		if s != "" {
			r += fmt.Sprintf("-s %s -d %s ", s, d)
		}
		r += fmt.Sprintf("-i %s -o %s ", in, o)
		if proto != "" {
			r += fmt.Sprintf("%s %s %s ", proto, dir, port)
		}
		out = append(out, r+strings.ToLower(verdict))
	}
	if fw == "iptables" {
		for _, line := range strings.Split(l.Sh("host1", "iptables-save -t filter"), "\n") {
			m := iptLinkRE.FindStringSubmatch(strings.TrimSpace(line))
			if m == nil || m[4] != m[5] {
				continue
			}
			add(m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9])
		}
		return out
	}
	chain := ""
	for _, line := range strings.Split(l.Sh("host1", "nft list table ip docker-filter"), "\n") {
		line = strings.TrimSpace(line)
		if c, ok := strings.CutPrefix(line, "chain "); ok {
			chain = strings.TrimSuffix(c, " {")
			continue
		}
		m := nftLinkRE.FindStringSubmatch(line)
		if m == nil || m[3] != m[4] || (chain != "DOCKER" && chain != "FORWARD") {
			continue
		}
		add(chain, m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8])
	}
	return out
}

// e08Link runs cm01, then cm02 linked to it as test, as seed 000 does.
func e08Link(d Docker) {
	GinkgoHelper()
	MustRun(d, Run{Name: "cm01", Cmd: []string{"/bin/ash"}})
	MustRun(d, Run{Name: "cm02", Links: []string{"cm01:test"}, Cmd: []string{"/bin/ash"}})
}
