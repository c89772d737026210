// Package reference runs every scenario on real Docker: Debian's docker.io
// dockerd 20.10, one per virtual host, inside the host's namespaces. It is
// what hostd is held to; the parity report compares the two.
package reference

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/nslab/nslab/internal/rootns"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/parity"
	"github.com/nslab/nslab/scenarios"
)

func TestReference(t *testing.T) {
	RegisterFailHandler(Fail)
	// Every helper of labtest, and every lab brought up, stops with the
	// node it runs in: its NodeTimeout, or Ctrl-C.
	RunSpecs(t, "nslab reference suite (dockerd 20.10)", labtest.GinkgoContext)
}

var before *rootns.Baseline

// The suite needs root, a Docker 20.10 dockerd (lab.FindDockerd) and
// busybox-static; without one of them it skips, saying which. Around the
// whole run it compares snapshots of the machine's root network namespace
// (mount table included) and of nslab's entries in its /tmp: dockerd runs
// only inside the lab's namespaces, and any difference, or anything left
// in /tmp, fails the suite.
var _ = SynchronizedBeforeSuite(func() []byte {
	if os.Geteuid() != 0 {
		Skip("the reference suite needs root: it creates network namespaces and starts dockerd")
	}
	dockerd, err := lab.FindDockerd("")
	if err != nil && os.Getenv("NSLAB_DOCKERD") != "" {
		// A dockerd asked for by name (CI's static binaries) that cannot
		// serve is a failure, not a reason to skip the whole suite.
		Fail(fmt.Sprintf("NSLAB_DOCKERD: %v", err))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "reference suite skipped: %v\n", err)
		Skip(err.Error())
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		Skip("every dockerd loads the default image, built from busybox-static's /bin/busybox: " + err.Error())
	}
	Expect(netns.EnsureRunDir()).To(Succeed())
	before, err = rootns.TakeBaseline(parity.DefaultDir())
	Expect(err).NotTo(HaveOccurred())
	_, err = scenarios.StartObservations(lab.RuntimeDockerd)
	Expect(err).NotTo(HaveOccurred())
	// The overlay fixtures' etcd members run nslab-etcd: next to
	// $NSLAB_BIN (make test), $NSLAB_ETCD_BIN, or built here.
	etcd := ""
	if os.Getenv("NSLAB_BIN") == "" && os.Getenv("NSLAB_ETCD_BIN") == "" {
		etcd, err = gexec.Build("github.com/nslab/nslab/cmd/nslab-etcd")
		Expect(err).NotTo(HaveOccurred())
	}
	return []byte(dockerd + "\n" + etcd)
}, func(data []byte) {
	parts := strings.SplitN(string(data), "\n", 2)
	dockerd, etcd := parts[0], parts[1]
	scenarios.Use(scenarios.Reference{Dockerd: dockerd, Etcd: etcd})
	scenarios.RecordObservations(parity.DefaultDir())
})

var _ = SynchronizedAfterSuite(func() {}, func() {
	if before == nil {
		return
	}
	gexec.CleanupBuildArtifacts()
	d, err := before.Changes()
	Expect(err).NotTo(HaveOccurred())
	unexplained := checkParity()
	Expect(d).To(BeEmpty(), fmt.Sprintf("the root network namespace or the machine's /tmp changed during the suite:\n%s", strings.Join(d, "\n")))
	Expect(unexplained).To(BeEmpty(), "hostd and dockerd differ where no deliberate difference explains it")
})

// checkParity compares this run's observations with the native suite's
// (make test runs it first) and returns the report when a difference is
// not explained by the reviewed list of deliberate differences. The report
// is kept beside the observations as report.txt and report.xml (JUnit).
func checkParity() string {
	GinkgoHelper()
	dir := parity.DefaultDir()
	list, err := parity.Reviewed()
	Expect(err).NotTo(HaveOccurred())
	rep, err := parity.Compare(dir, list)
	if errors.Is(err, parity.ErrNoRun) {
		fmt.Fprintf(os.Stderr, "parity not checked: %v\n", err)
		AddReportEntry("parity", fmt.Sprintf("not checked: %v", err))
		return ""
	}
	Expect(err).NotTo(HaveOccurred())
	var table, junit bytes.Buffer
	Expect(parity.WriteReport(&table, rep, "table")).To(Succeed())
	Expect(parity.WriteReport(&junit, rep, "junit")).To(Succeed())
	Expect(os.WriteFile(filepath.Join(dir, "report.txt"), table.Bytes(), 0o644)).To(Succeed())
	Expect(os.WriteFile(filepath.Join(dir, "report.xml"), junit.Bytes(), 0o644)).To(Succeed())
	fmt.Fprintf(os.Stderr, "parity: %s (report: %s)\n", rep.Summary(), filepath.Join(dir, "report.txt"))
	if rep.Unexplained() > 0 {
		return table.String()
	}
	return ""
}
