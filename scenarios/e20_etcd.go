package scenarios

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/nslab/nslab/labtest"
)

// Seed 000, "通过安装etcd实现": an etcd cluster of two members on the docker
// hosts' own addresses, started on each host as
//
//	etcd --name docker-node1 --initial-advertise-peer-urls http://192.168.8.150:2380 \
//	  --listen-peer-urls http://192.168.8.150:2380 \
//	  --advertise-client-urls http://192.168.8.150:2379 \
//	  --listen-client-urls http://192.168.8.150:2379,http://127.0.0.1:2379 \
//	  --initial-cluster-token etcd-cluster \
//	  --initial-cluster docker-node1=http://192.168.8.150:2380,docker-node2=http://192.168.8.148:2380 \
//	  --initial-cluster-state new
//
// and checked with `etcdctl cluster-health`; seed 001 checks its own pair
// with `etcdctl member list` and `etcdctl --write-out=table
// --endpoints=...:2379,...:2379 endpoint status/health`. The lab runs the
// members (fixtures/overlay.yaml names them); a student runs Debian's
// etcdctl inside a host. Then each daemon is started with
// --cluster-store=etcd://<own address>:2379 --cluster-advertise=<own
// address>:2375 and registers itself in the store.
var _ = Describe("[E20] a two-member etcd cluster on the hosts' underlay addresses", Label("E20"), func() {
	It("etcdctl inside a host lists both members and finds both healthy; the v2 API answers; each daemon registers under /docker/nodes", Label(LabelChecks), func(ctx SpecContext) {
		l := UpLab("overlay")
		// The members are the lab's, started by up: the exercise's state
		// is the fresh lab. The checks file asks no etcdctl.
		holdsToChecks(l, "E20")
		if _, err := exec.LookPath("etcdctl"); err != nil {
			Skip("E20 runs Debian's etcdctl inside the hosts (apt-get install etcd-client): " + err.Error())
		}
		members := map[string]string{"node1": "192.168.8.150", "node2": "192.168.8.148"}
		// The member ids of seed 000's output: etcd derives them from the
		// name, the peer URLs and the cluster token, all as in the document.
		ids := map[string]string{"node1": "55bbbb082228277b", "node2": "fd79a45b0c14607d"}

		By("etcdctl member list, on each host: both members, peer URLs on 2380, client URLs on 2379")
		want := []string{
			"55bbbb082228277b, started, docker-node1, http://192.168.8.150:2380, http://192.168.8.150:2379, false",
			"fd79a45b0c14607d, started, docker-node2, http://192.168.8.148:2380, http://192.168.8.148:2379, false",
		}
		for h := range members {
			Expect(outputLines(etcdctl(l, h, "3", "member", "list"))).To(ConsistOf(want), "on %s", h)
		}

		By("ETCDCTL_API=2 etcdctl cluster-health: seed 000's lines, member ids included")
		Expect(outputLines(etcdctl(l, "node1", "2", "cluster-health"))).To(ConsistOf(
			"member 55bbbb082228277b is healthy: got healthy result from http://192.168.8.150:2379",
			"member fd79a45b0c14607d is healthy: got healthy result from http://192.168.8.148:2379",
			"cluster is healthy"))

		By("etcdctl --endpoints=192.168.8.150:2379,192.168.8.148:2379 endpoint health / endpoint status")
		eps := "--endpoints=192.168.8.150:2379,192.168.8.148:2379"
		health := etcdctl(l, "node2", "3", eps, "endpoint", "health")
		for _, a := range members {
			Expect(health).To(MatchRegexp(`(?m)^`+regexp.QuoteMeta(a)+`:2379 is healthy: successfully committed proposal`), "endpoint health")
		}
		// ENDPOINT, ID, VERSION, DB SIZE, IS LEADER, IS LEARNER, RAFT TERM, ...
		leaders, terms := 0, map[string]bool{}
		status := outputLines(etcdctl(l, "node1", "3", eps, "endpoint", "status"))
		Expect(status).To(HaveLen(2))
		for _, s := range status {
			f := strings.Split(s, ", ")
			Expect(len(f)).To(BeNumerically(">=", 7), "endpoint status line %q", s)
			host := "node1"
			if f[0] == "192.168.8.148:2379" {
				host = "node2"
			}
			Expect(f[0]).To(Equal(members[host] + ":2379"))
			Expect(f[1]).To(Equal(ids[host]))
			Expect(f[2]).To(HavePrefix("3.5."), "the v3.5 line, the last that serves the v2 API Docker 20.10 needs")
			if f[4] == "true" {
				leaders++
			}
			terms[f[6]] = true
		}
		Expect(leaders).To(Equal(1), "exactly one leader: %v", status)
		Expect(terms).To(HaveLen(1), "both members in the same raft term: %v", status)
		Expect(etcdctl(l, "node1", "3", "--write-out=table", eps, "endpoint", "status")).To(ContainSubstring("IS LEADER"))

		By("the kernel: each member listens on its host's address and on the host's 127.0.0.1:2379, nowhere else")
		for h, a := range members {
			Expect(etcdctl(l, h, "3", "--endpoints=127.0.0.1:2379", "endpoint", "health")).To(ContainSubstring("127.0.0.1:2379 is healthy"), "on %s", h)
			ss := l.Sh(h, "ss -Htln")
			for _, ep := range []string{a + ":2379", "127.0.0.1:2379", a + ":2380"} {
				Expect(ss).To(MatchRegexp(`(?m)\s`+regexp.QuoteMeta(ep)+`\s`), "on %s: a listener on %s", h, ep)
			}
			Expect(ss).NotTo(MatchRegexp(`(?m)\s(0\.0\.0\.0|\*|\[::\]|127\.0\.0\.1):2380\s`), "on %s: the peer port on the underlay address only", h)
			Expect(ss).NotTo(MatchRegexp(`(?m)\s(0\.0\.0\.0|\*|\[::\]):2379\s`), "on %s: no wildcard client listener", h)
		}

		By("the wire: raft traffic between the members crosses lan0 on TCP 2380")
		c := StartCapture(l.H("node1").NetNS(), "eth1")
		time.Sleep(500 * time.Millisecond) // heartbeats every 50 ms
		peer := 0
		for _, f := range StopCapture(c) {
			pair := (f.Src == "192.168.8.150" && f.Dst == "192.168.8.148") || (f.Src == "192.168.8.148" && f.Dst == "192.168.8.150")
			if pair && f.Proto == 6 && (f.TCPSrc == 2380 || f.TCPDst == 2380) {
				peer++
			}
		}
		Expect(peer).To(BeNumerically(">", 0), "no TCP 2380 between the members on node1's eth1")

		By("the v2 API: ETCDCTL_API=2 etcdctl set on node1, get on node2, GET /v2/keys over HTTP")
		etcdctl(l, "node1", "2", "set", "/e20/greeting", "hello")
		Expect(etcdctl(l, "node2", "2", "get", "/e20/greeting")).To(Equal("hello\n"))
		Expect(l.Sh("node2", "curl -s --noproxy '*' http://192.168.8.150:2379/v2/keys/e20/greeting")).To(
			MatchRegexp(`"action":"get","node":\{"key":"/e20/greeting","value":"hello"`))
		Expect(etcdctl(l, "node1", "3", "get", "/e20/greeting")).To(BeEmpty(), "v2 keys live apart from the v3 keyspace")

		By("each daemon, started with --cluster-store=etcd://<own address>:2379 --cluster-advertise=<own address>:2375, registers itself")
		nodes := []string{"/docker/nodes/192.168.8.148:2375", "/docker/nodes/192.168.8.150:2375"}
		// Docker 20.10's discovery (and hostd's) writes its node key through
		// the v2 API with a TTL of 60 s, refreshed every 20 s.
		Eventually(func(g Gomega) []string { return outputLines(tryEtcdctl(g, l, "node1", "2", "ls", "/docker/nodes")) }).
			WithTimeout(15 * time.Second).WithPolling(200 * time.Millisecond).Should(ConsistOf(nodes))
		for _, a := range members {
			out := etcdctl(l, "node2", "2", "-o", "extended", "get", "/docker/nodes/"+a+":2375")
			Expect(out).To(MatchRegexp(`(?m)^` + regexp.QuoteMeta(a) + `:2375$`))
			m := regexp.MustCompile(`(?m)^TTL: (\d+)$`).FindStringSubmatch(out)
			Expect(m).NotTo(BeNil(), "the node key has a TTL:\n%s", out)
			Expect(strconv.Atoi(m[1])).To(And(BeNumerically(">", 0), BeNumerically("<=", 60)))
		}
	}, NodeTimeout(specTimeout))
})

// etcdctl runs Debian's etcdctl inside a virtual host with ETCDCTL_API=api
// and nothing else of the spec's environment (a proxy variable would send
// its requests out of the lab), and returns what it printed (endpoint
// health writes to stderr). It must exit 0.
func etcdctl(l *Lab, host, api string, args ...string) string {
	GinkgoHelper()
	return tryEtcdctl(Default, l, host, api, args...)
}

// tryEtcdctl is etcdctl asserting through g, for Eventually.
func tryEtcdctl(g Gomega, l *Lab, host, api string, args ...string) string {
	GinkgoHelper()
	ctx, cancel := contextWithTimeout()
	defer cancel()
	argv := append([]string{"env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "ETCDCTL_API=" + api, "etcdctl"}, args...)
	r, err := l.H(host).Exec(ctx, argv...)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.ExitCode).To(BeZero(), "on %s: ETCDCTL_API=%s etcdctl %s\nstdout: %s\nstderr: %s", host, api, strings.Join(args, " "), r.Stdout, r.Stderr)
	return r.Stdout + r.Stderr
}

// outputLines splits output into its non-empty lines.
func outputLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimRight(l, " \r"); l != "" {
			out = append(out, l)
		}
	}
	return out
}
