package labtest

import (
	"net/netip"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/netns/probe"
)

// ExpectPing requires an echo reply from dst to pings sent from inside the
// namespace at ns (a pin or /proc/PID/ns/net) within ProbeTimeout. A Ginkgo
// helper: it fails the running spec.
func ExpectPing(ns, dst string) {
	GinkgoHelper()
	a := netip.MustParseAddr(dst)
	ctx, cancel := StepContext(ProbeTimeout + StepTimeout)
	defer cancel()
	r, err := probe.Ping(ctx, ns, a, probe.Opts{Timeout: ProbeTimeout})
	Expect(err).NotTo(HaveOccurred())
	Expect(r.From).To(Equal(a), "the reply to a ping of %s came from elsewhere", dst)
}

// ExpectNoPing requires that dst stays silent to pings from inside the
// namespace at ns for the whole of SilenceTimeout. A Ginkgo helper: it
// fails the running spec.
func ExpectNoPing(ns, dst string) {
	GinkgoHelper()
	ctx, cancel := StepContext(SilenceTimeout + StepTimeout)
	defer cancel()
	Expect(probe.ExpectUnreachable(ctx, ns, netip.MustParseAddr(dst),
		probe.Opts{Timeout: SilenceTimeout})).To(Succeed())
}
