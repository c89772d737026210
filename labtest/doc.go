// Package labtest brings nslab labs into Go tests: a multi-host container
// network, each virtual host a Linux network namespace running a Docker
// Engine API daemon (nslab's hostd, or a real dockerd 20.10), up for one
// test and gone when it ends.
//
// With plain testing:
//
//	func TestService(t *testing.T) {
//		l := labtest.Up(t, "testdata/two-hosts.yaml")
//		node1 := l.Host("node1")
//		cli := node1.Docker() // *client.Client of github.com/moby/moby/client
//		...
//		if err := l.Host("node2").Ping(t.Context(), "192.168.1.10"); err != nil {
//			t.Fatal(err)
//		}
//	}
//
// With Ginkgo and Gomega, give Up Ginkgo's testing.TB (GinkgoTB()): the
// lab's cleanup becomes a DeferCleanup, a failure a Ginkgo failure, a skip
// a Ginkgo skip. Decorating RunSpecs with GinkgoContext makes every helper
// of this package stop with the Ginkgo node it runs in (its NodeTimeout,
// SpecTimeout or an interrupt):
//
//	func TestSuite(t *testing.T) {
//		RegisterFailHandler(Fail)
//		RunSpecs(t, "my suite", labtest.GinkgoContext)
//	}
//
//	var _ = It("reaches node2", func(ctx SpecContext) {
//		l := labtest.Up(GinkgoTB(), "testdata/two-hosts.yaml")
//		Expect(l.Host("node1")).To(labtest.Reach("192.168.2.10"))
//		Expect(l.Host("node1")).NotTo(labtest.Reach("10.9.9.9")) // silent for the whole deadline
//	}, NodeTimeout(time.Minute))
//
// Up skips the test, saying why, when it cannot run here: not root (labs are
// network namespaces), or a kernel without what the topology needs (VXLAN
// for an overlay's cluster store, overlayfs for images, ...; RequireKernel
// for what a test does at run time, such as a macvlan network). When the
// test fails, every daemon's and etcd member's log is written to its output
// before the lab goes down.
//
// The lab runs nslab's own programs, nslab-hostd and nslab-etcd. Nothing
// needs installing: unless $NSLAB_HOSTD_BIN and $NSLAB_ETCD_BIN name them
// (or they sit next to the test binary or on PATH), they are built with the
// go tool from the very nslab module the test was built with, into the
// user's cache directory, once per version (see lab.BuildProgram); the test
// log says so.
//
// Every probe runs inside a lab namespace and sends nothing anywhere else:
// addresses are IP literals, and a check that a path must fail waits its
// whole deadline (see package github.com/nslab/nslab/netns/probe).
//
// Besides the Go API, the package keeps the helpers nslab's own Ginkgo
// specs are written with (Docker ways CLI and API, MustRun, ExpectPing,
// Links, StartCapture, ...): they report through Gomega's global fail
// handler and Ginkgo's DeferCleanup, so they belong in Ginkgo specs.
package labtest
