package scenarios

import (
	"fmt"
	"os"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/nslab/nslab/labtest"
)

// Seed 000 starts each daemon of its overlay pair with
//
//	dockerd -H tcp://0.0.0.0:2375 -H unix://var/run/docker.sock --cluster-store=... --cluster-advertise=...
//
// (seed 001's daemon.json: "host": ["tcp://0.0.0.0:2375", "unix:///var/run/docker.sock"]):
// the Engine API also on TCP, plain HTTP, which the docker CLI on another
// host reaches with -H. fixtures/overlay.yaml asks for it with
// `api: [unix, "tcp://0.0.0.0:2375"]`: hostd listens in the host's own
// network namespace, dockerd gets the same -H. Nothing outside the lab's
// namespaces can reach it.
var _ = Describe("[E21] the daemons' API on TCP, as dockerd -H tcp://0.0.0.0:2375", Label("E21"), func() {
	It("answers docker -H tcp://192.168.8.148:2375 typed on the other host", func(ctx SpecContext) {
		l := UpLab("overlay")
		MustRun(CLI(l, "node2"), Run{Name: "cm02", Network: "none"})

		By("docker -H tcp://192.168.8.148:2375 ps and info, typed on node1: node2's daemon")
		Expect(l.Sh("node1", "docker -H tcp://192.168.8.148:2375 ps --format '{{.Names}}'")).To(Equal("cm02\n"))
		Expect(l.Sh("node1", "docker -H tcp://192.168.8.148:2375 info -f '{{.Name}}'")).To(Equal("node2\n"))
		Expect(l.Sh("node1", "docker ps -a --format '{{.Names}}'")).To(BeEmpty(), "node1's own daemon, at /var/run/docker.sock, has no container")

		By("docker ps on node2 (-H unix:///var/run/docker.sock): the same daemon")
		Expect(l.Sh("node2", "docker ps --format '{{.Names}}'")).To(Equal("cm02\n"))

		By("the listener is node2's, on 0.0.0.0:2375 in its namespace; the machine has none")
		// Both daemons listen as Go does on 0.0.0.0: one dual-stack socket.
		Expect(l.Sh("node2", "ss -Hltn 'sport = :2375'")).To(MatchRegexp(`\s(0\.0\.0\.0|\*|\[::\]):2375\s`))
		Expect(machineListens(2375)).To(BeFalse(), "a TCP listener on port 2375 in the machine's namespace")
	}, NodeTimeout(specTimeout))
})

// machineListens says whether a TCP socket listens on port in this
// process's network namespace, the machine's (/proc/self/net/tcp).
func machineListens(port int) bool {
	GinkgoHelper()
	b, err := os.ReadFile("/proc/self/net/tcp")
	Expect(err).NotTo(HaveOccurred())
	want := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		fs := strings.Fields(line)
		if len(fs) > 3 && strings.HasSuffix(fs[1], want) && fs[3] == "0A" {
			return true
		}
	}
	return false
}
