// Package native runs every scenario on hostd, nslab's own daemon.
package native

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/scenarios"
)

func TestNative(t *testing.T) {
	RegisterFailHandler(Fail)
	// Every helper of labtest, and every lab brought up, stops with the
	// node it runs in: its NodeTimeout, or Ctrl-C.
	RunSpecs(t, "nslab native suite (hostd)", labtest.GinkgoContext)
}

// The suite builds nslab, nslab-hostd and nslab-etcd once (unless
// NSLAB_BIN names a build, with the programs next to it). Its processes
// share a pool of labs (scenarios.StartSuite). Around the whole run it
// compares the machine's root network namespace (mount table included)
// and nslab's entries in its /tmp with how they were: a difference named
// by one of the run's labs or by none, or anything the run left in its
// TMPDIR, fails the suite; one named by another run's lab is reported.
var _ = SynchronizedBeforeSuite(func() []byte {
	if os.Geteuid() != 0 {
		Skip("the native suite needs root: it creates network namespaces")
	}
	data, err := scenarios.StartSuite("hostd")
	Expect(err).NotTo(HaveOccurred())
	bin := os.Getenv("NSLAB_BIN")
	hostd, etcd := "", ""
	if bin == "" {
		bin, err = gexec.Build("github.com/nslab/nslab/cmd/nslab")
		Expect(err).NotTo(HaveOccurred())
		// The docker hosts run nslab-hostd, the etcd members of the
		// overlay fixtures nslab-etcd.
		hostd, err = gexec.Build("github.com/nslab/nslab/cmd/nslab-hostd")
		Expect(err).NotTo(HaveOccurred())
		etcd, err = gexec.Build("github.com/nslab/nslab/cmd/nslab-etcd")
		Expect(err).NotTo(HaveOccurred())
	}
	return []byte(bin + "\n" + hostd + "\n" + etcd + "\n" + string(data))
}, func(data []byte) {
	parts := strings.SplitN(string(data), "\n", 4)
	scenarios.Use(scenarios.Native{Binary: parts[0], Hostd: parts[1], Etcd: parts[2]})
	_, err := scenarios.JoinSuite([]byte(parts[3]))
	Expect(err).NotTo(HaveOccurred())
})

var _ = SynchronizedAfterSuite(func() {}, func(ctx SpecContext) {
	gexec.CleanupBuildArtifacts()
	mine, foreign, err := scenarios.EndSuite(ctx)
	Expect(err).NotTo(HaveOccurred())
	if len(foreign) > 0 {
		AddReportEntry("changes of other runs", strings.Join(foreign, "\n"))
	}
	Expect(mine).To(BeEmpty(), fmt.Sprintf("the root network namespace or the machine's /tmp changed during the suite:\n%s", strings.Join(mine, "\n")))
}, NodeTimeout(2*time.Minute))
