package labtest

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/moby/moby/api/types/network"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
)

// The Must helpers run one step through a Docker and fail the test when it
// does not succeed, each step bounded by StepTimeout and ended with the
// test (or its Ginkgo node, see GinkgoContext). A Docker from CLI or API
// fails the test of its lab; any other Docker fails the running Ginkgo
// spec.

// must returns the test a step through d fails, a Gomega bound to it and a
// context for the step.
func must(d Docker) (testing.TB, gomega.Gomega, context.Context, context.CancelFunc) {
	if ld, ok := d.(interface{ lab() *Lab }); ok {
		l := ld.lab()
		ctx, cancel := l.step(StepTimeout)
		return l.t, gomega.NewWithT(l.t), ctx, cancel
	}
	t := ginkgo.GinkgoTB()
	ctx, cancel := StepContext(StepTimeout)
	return t, gomega.NewWithT(t), ctx, cancel
}

// MustRun runs a container, like `docker run -itd`; the test fails if it
// does not start.
func MustRun(d Docker, c Run) {
	t, g, ctx, cancel := must(d)
	defer cancel()
	t.Helper()
	g.Expect(d.Run(ctx, c)).To(gomega.Succeed(), "run %s via %s", c.Name, d.Via())
}

// MustExec runs a command in a container; it must exit 0. It returns
// stdout.
func MustExec(d Docker, name string, cmd ...string) string {
	t, g, ctx, cancel := must(d)
	defer cancel()
	t.Helper()
	r, err := d.Exec(ctx, name, cmd...)
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(r.ExitCode).To(gomega.BeZero(), "exec %v in %s via %s: %s", cmd, name, d.Via(), r.Stderr)
	return r.Stdout
}

// NetNSOf returns the network namespace of a container's main process,
// /proc/PID/ns/net: where probes from the container start.
func NetNSOf(d Docker, name string) string {
	t := testOf(d)
	t.Helper()
	return fmt.Sprintf("/proc/%d/ns/net", PidOf(d, name))
}

// PidOf is the container's main process id; the test fails without one.
func PidOf(d Docker, name string) int {
	t, g, ctx, cancel := must(d)
	defer cancel()
	t.Helper()
	pid, err := d.Pid(ctx, name)
	g.Expect(err).NotTo(gomega.HaveOccurred(), "inspect %s via %s", name, d.Via())
	g.Expect(pid).To(gomega.BeNumerically(">", 0), "container %s has no process", name)
	return pid
}

// MustNetworkCreate creates a network and fails the test if it cannot; it
// returns the network's id.
func MustNetworkCreate(d Docker, n NetworkCreate) string {
	t, g, ctx, cancel := must(d)
	defer cancel()
	t.Helper()
	id, err := d.NetworkCreate(ctx, n)
	g.Expect(err).NotTo(gomega.HaveOccurred(), "network create %s via %s", n.Name, d.Via())
	g.Expect(id).To(gomega.MatchRegexp(`^[0-9a-f]{64}$`), "network create %s via %s: id", n.Name, d.Via())
	return id
}

// MustNetworkInspect inspects a network and fails the test if it cannot.
func MustNetworkInspect(d Docker, name string) network.Inspect {
	t, g, ctx, cancel := must(d)
	defer cancel()
	t.Helper()
	n, err := d.NetworkInspect(ctx, name)
	g.Expect(err).NotTo(gomega.HaveOccurred(), "network inspect %s via %s", name, d.Via())
	return n
}

// MustNetworkList lists the networks and fails the test if it cannot.
func MustNetworkList(d Docker) []NetworkRow {
	t, g, ctx, cancel := must(d)
	defer cancel()
	t.Helper()
	rows, err := d.NetworkList(ctx)
	g.Expect(err).NotTo(gomega.HaveOccurred(), "network ls via %s", d.Via())
	return rows
}

// MustDo runs one docker step (rm, connect, disconnect, ...) and fails the
// test if it does not succeed.
func MustDo(d Docker, what string, step func(ctx context.Context) error) {
	t, g, ctx, cancel := must(d)
	defer cancel()
	t.Helper()
	g.Expect(step(ctx)).To(gomega.Succeed(), "%s via %s", what, d.Via())
}

// testOf is the test a step through d fails.
func testOf(d Docker) testing.TB {
	t, _, _, cancel := must(d)
	cancel()
	return t
}

// DockerMAC is the MAC address Docker 20.10 gives a container's interface:
// 02:42 followed by the four bytes of its IPv4 address (172.19.0.2 is
// 02:42:ac:13:00:02).
func DockerMAC(ipv4 string) string {
	a := netip.MustParseAddr(ipv4).As4()
	return fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3])
}
