// Package native runs every scenario on hostd, nslab's own daemon.
package native

import (
	"fmt"
	"os"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/nslab/nslab/internal/rootns"
	"github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/parity"
	"github.com/nslab/nslab/scenarios"
)

func TestNative(t *testing.T) {
	RegisterFailHandler(Fail)
	// Every helper of labtest, and every lab brought up, stops with the
	// node it runs in: its NodeTimeout, or Ctrl-C.
	RunSpecs(t, "nslab native suite (hostd)", labtest.GinkgoContext)
}

var before *rootns.Baseline

// The suite builds nslab, nslab-hostd and nslab-etcd once (unless
// NSLAB_BIN names a build, with the programs next to it) and, around
// the whole run, compares snapshots of the machine's root network namespace
// (mount table included) and of nslab's entries in its /tmp: any
// difference, or anything left in /tmp, fails the suite.
var _ = SynchronizedBeforeSuite(func() []byte {
	if os.Geteuid() != 0 {
		Skip("the native suite needs root: it creates network namespaces")
	}
	bin := os.Getenv("NSLAB_BIN")
	hostd, etcd := "", ""
	if bin == "" {
		var err error
		bin, err = gexec.Build("github.com/nslab/nslab/cmd/nslab")
		Expect(err).NotTo(HaveOccurred())
		// The docker hosts run nslab-hostd, the etcd members of the
		// overlay fixtures nslab-etcd.
		hostd, err = gexec.Build("github.com/nslab/nslab/cmd/nslab-hostd")
		Expect(err).NotTo(HaveOccurred())
		etcd, err = gexec.Build("github.com/nslab/nslab/cmd/nslab-etcd")
		Expect(err).NotTo(HaveOccurred())
	}
	// `ip netns add` makes /run/netns a shared mount point the first time it
	// runs after boot; make it before the snapshot so it is not counted.
	Expect(netns.EnsureRunDir()).To(Succeed())
	var err error
	before, err = rootns.TakeBaseline(parity.DefaultDir())
	Expect(err).NotTo(HaveOccurred())
	// The parity report compares what the specs record here with the
	// reference suite's record of the same specs on real dockerd.
	_, err = scenarios.StartObservations("hostd")
	Expect(err).NotTo(HaveOccurred())
	return []byte(bin + "\n" + hostd + "\n" + etcd)
}, func(data []byte) {
	parts := strings.SplitN(string(data), "\n", 3)
	scenarios.Use(scenarios.Native{Binary: parts[0], Hostd: parts[1], Etcd: parts[2]})
	scenarios.RecordObservations(parity.DefaultDir())
})

var _ = SynchronizedAfterSuite(func() {}, func() {
	if before == nil {
		return
	}
	gexec.CleanupBuildArtifacts()
	d, err := before.Changes()
	Expect(err).NotTo(HaveOccurred())
	Expect(d).To(BeEmpty(), fmt.Sprintf("the root network namespace or the machine's /tmp changed during the suite:\n%s", strings.Join(d, "\n")))
})
