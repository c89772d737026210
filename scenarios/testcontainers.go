package scenarios

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/moby/moby/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	. "github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/labtest/tclab"
	"github.com/nslab/nslab/netns/probe"
)

// testcontainers-go for what it is for: a request (image, exposed ports, a
// wait strategy) run on a chosen host of a lab through that host's Docker
// API, its wait strategies run inside the container and through the
// daemon, and the published port reached from another host of the lab.
var _ = Describe("[testcontainers] a testcontainers-go request on a lab host", Label("testcontainers"), func() {
	var l *Lab
	BeforeEach(func(ctx SpecContext) {
		l = UpLab("classroom")
	}, NodeTimeout(setupTimeout))

	It("runs the container on the chosen host, its wait strategies succeed, and its published port answers another host", func(nodeCtx SpecContext) {
		node2 := l.H("node2")
		ctx, cancel := context.WithTimeout(nodeCtx, StepTimeout)
		defer cancel()
		By("testcontainers.GenericContainer on node2, waiting for its log line and an exec inside it")
		c, err := tclab.Run(ctx, node2, testcontainers.GenericContainerRequest{
			ContainerRequest: testcontainers.ContainerRequest{
				Image: "busybox",
				Name:  "tc01",
				// PID 1 ignores SIGTERM unless it traps it: stop at once.
				Cmd:          []string{"sh", "-c", "trap 'exit 0' TERM; nc -ll -p 8080 -e echo hello & echo ready; wait"},
				ExposedPorts: []string{"8080/tcp"},
				WaitingFor: wait.ForAll(
					wait.ForLog("ready").WithStartupTimeout(20*time.Second),
					wait.ForExec([]string{"hostname"}).WithStartupTimeout(20*time.Second),
				),
			},
			Started: true,
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(c.IsRunning()).To(BeTrue())

		By("node2's daemon has it, node1's does not")
		ins, err := node2.Docker().ContainerInspect(ctx, "tc01", client.ContainerInspectOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(ins.Container.ID).To(Equal(c.GetContainerID()))
		_, err = l.H("node1").Docker().ContainerInspect(ctx, "tc01", client.ContainerInspectOptions{})
		Expect(err).To(HaveOccurred())

		By("its exposed port, published on node2, answers node1 at node2's address")
		port, err := c.MappedPort(ctx, "8080/tcp")
		Expect(err).NotTo(HaveOccurred())
		addr := netip.AddrPortFrom(node2.Addr(), uint16(port.Num()))
		Expect(probe.TCP(ctx, l.H("node1").NetNS(), addr, probe.Opts{Timeout: probeTimeout})).To(Succeed())

		By("and testcontainers' Host never names the machine's own localhost")
		host, err := c.Host(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(host).To(Equal(tclab.UnreachableHost))
	}, NodeTimeout(specTimeout))

	It("refuses a wait strategy that would dial from the test process", func(nodeCtx SpecContext) {
		ctx, cancel := context.WithTimeout(nodeCtx, StepTimeout)
		defer cancel()
		_, err := tclab.Run(ctx, l.H("node1"), testcontainers.GenericContainerRequest{
			ContainerRequest: testcontainers.ContainerRequest{
				Image:        "busybox",
				ExposedPorts: []string{"8080/tcp"},
				WaitingFor:   wait.ForListeningPort("8080/tcp"),
			},
			Started: true,
		})
		Expect(err).To(MatchError(ContainSubstring(fmt.Sprintf("wait strategy %T dials the container from the test process", wait.ForListeningPort("8080/tcp")))))
	}, NodeTimeout(specTimeout))
})
