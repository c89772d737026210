package labtest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns/probe"
)

// A test brings up the lab of a topology file; t's end takes it down.
func ExampleUp() {
	test := func(t *testing.T) {
		l := labtest.Up(t, "testdata/two-hosts.yaml")
		node1 := l.Host("node1")
		fmt.Print(node1.Sh("ip -br addr"))
		if err := l.Host("node2").Ping(t.Context(), "192.168.1.10"); err != nil {
			t.Fatal(err)
		}
	}
	_ = test
}

// A topology can be YAML in the test, or built in Go.
func ExampleUp_yaml() {
	test := func(t *testing.T) {
		l := labtest.Up(t, []byte(`
segments:
  - {name: lan0, prefix: 10.0.0.0/24}
hosts:
  - {name: a, kind: plain, interfaces: [{segment: lan0, address: 10.0.0.1/24}]}
  - {name: b, kind: plain, interfaces: [{segment: lan0, address: 10.0.0.2/24}]}
`), labtest.WithID("mytest1"))
		g := NewWithT(t)
		g.Expect(l.Host("a")).To(labtest.Reach("10.0.0.2"))
	}
	_ = test
}

// Each docker host has a Docker Engine API client of its daemon.
func ExampleHost_Docker() {
	test := func(t *testing.T) {
		l := labtest.Up(t, "testdata/two-hosts.yaml")
		cli := l.Host("node1").Docker()
		ctx := t.Context()
		c, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
			Name:   "web",
			Config: &container.Config{Image: "busybox", Cmd: []string{"httpd", "-f", "-p", "80"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_ = test
}

// A client under test dials from a host's namespace.
func ExampleHost_DialContext() {
	test := func(t *testing.T) {
		l := labtest.Up(t, "testdata/two-hosts.yaml")
		conn, err := l.Host("node2").DialContext(t.Context(), "tcp", "192.168.1.10:7000")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
	}
	_ = test
}

// Reach succeeds on an answer; negated, it waits the whole deadline.
func ExampleReach() {
	test := func(t *testing.T) {
		l := labtest.Up(t, "testdata/two-hosts.yaml")
		g := NewWithT(t)
		g.Expect(l.Host("node1")).To(labtest.Reach("192.168.2.10"))
		g.Expect(l.Host("node1")).NotTo(labtest.Reach("192.168.2.99").Within(labtest.SilenceTimeout))
		g.Expect(l.Host("node1")).To(labtest.ReachTCP("192.168.2.10:7000"))
	}
	_ = test
}

// All pairs at once, against an expectation.
func ExampleLab_Reachability() {
	test := func(t *testing.T) {
		l := labtest.Up(t, "testdata/three-hosts.yaml")
		want := probe.Groups([]string{"node1", "node2"}, []string{"outside"})
		NewWithT(t).Expect(l.Reachability(t.Context())).To(labtest.EqualMatrix(want))
	}
	_ = test
}

// In Ginkgo, labtest takes Ginkgo's testing.TB; GinkgoContext on RunSpecs
// makes its helpers stop with each node's timeout or an interrupt.
func ExampleGinkgoContext() {
	suite := func(t *testing.T) {
		RegisterFailHandler(Fail)
		RunSpecs(t, "my suite", labtest.GinkgoContext)
	}
	_ = suite
	_ = Describe("my service", func() {
		var l *labtest.Lab
		BeforeEach(func() {
			l = labtest.Up(GinkgoTB(), "testdata/two-hosts.yaml", labtest.WithRuntime(lab.RuntimeHostd))
		})
		It("answers across the router", func(ctx SpecContext) {
			Expect(l.Host("node2")).To(labtest.ReachTCP("192.168.1.10:7000"))
		}, NodeTimeout(time.Minute))
	})
}

// A test that needs something of the kernel at run time skips without it.
func ExampleRequireKernel() {
	test := func(t *testing.T) {
		labtest.RequireKernel(t, labtest.Macvlan)
		l := labtest.Up(t, "testdata/two-hosts.yaml")
		l.Host("node1").DockerCLI("network", "create", "-d", "macvlan", "-o", "parent=eth1", "mv1")
	}
	_ = test
}
