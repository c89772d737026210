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
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/parity"
	"github.com/nslab/nslab/scenarios"
)

func TestReference(t *testing.T) {
	RegisterFailHandler(Fail)
	// Every helper of labtest, and every lab brought up, stops with the
	// node it runs in: its NodeTimeout, or Ctrl-C.
	RunSpecs(t, "nslab reference suite (dockerd 20.10)", labtest.GinkgoContext)
}

// The suite needs root, a Docker 20.10 dockerd (lab.FindDockerd) and
// busybox-static; without one of them it skips, saying which. Its processes
// share a pool of labs (scenarios.StartSuite). Around the whole run it
// compares the machine's root network namespace (mount table included)
// and nslab's entries in its /tmp with how they were: dockerd runs only
// inside the lab's namespaces, and a difference named by one of the run's
// labs or by none, or anything the run left in its TMPDIR, fails the
// suite; one named by another run's lab is reported.
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
	data, err := scenarios.StartSuite(lab.RuntimeDockerd)
	Expect(err).NotTo(HaveOccurred())
	// The overlay fixtures' etcd members run nslab-etcd: next to
	// $NSLAB_BIN (make test), $NSLAB_ETCD_BIN, or built here.
	etcd := ""
	if os.Getenv("NSLAB_BIN") == "" && os.Getenv("NSLAB_ETCD_BIN") == "" {
		etcd, err = gexec.Build("github.com/nslab/nslab/cmd/nslab-etcd")
		Expect(err).NotTo(HaveOccurred())
	}
	return []byte(dockerd + "\n" + etcd + "\n" + string(data))
}, func(data []byte) {
	parts := strings.SplitN(string(data), "\n", 3)
	if len(parts) < 3 {
		return // skipped: no dockerd 20.10 here
	}
	scenarios.Use(scenarios.Reference{Dockerd: parts[0], Etcd: parts[1]})
	_, err := scenarios.JoinSuite([]byte(parts[2]))
	Expect(err).NotTo(HaveOccurred())
})

var _ = SynchronizedAfterSuite(func() {}, func(ctx SpecContext) {
	gexec.CleanupBuildArtifacts()
	mine, foreign, err := scenarios.EndSuite(ctx)
	Expect(err).NotTo(HaveOccurred())
	if len(foreign) > 0 {
		AddReportEntry("changes of other runs", strings.Join(foreign, "\n"))
	}
	unexplained := checkParity()
	Expect(mine).To(BeEmpty(), fmt.Sprintf("the root network namespace or the machine's /tmp changed during the suite:\n%s", strings.Join(mine, "\n")))
	Expect(unexplained).To(BeEmpty(), "hostd and dockerd differ where no deliberate difference explains it")
}, NodeTimeout(2*time.Minute))

// checkParity compares this run's observations with the native suite's,
// once that run has finished (make test runs both suites side by side and
// compares after both, with nslab parity), and returns the report when a difference is
// not explained by the reviewed list of deliberate differences. The report
// is kept beside the observations as report.txt and report.xml (JUnit).
func checkParity() string {
	GinkgoHelper()
	dir := scenarios.ParityDir()
	if dir == "" {
		return "" // the suite skipped
	}
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
