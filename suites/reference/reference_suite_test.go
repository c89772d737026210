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
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/parity"
	"github.com/nslab/nslab/scenarios"
	"github.com/nslab/nslab/suites/internal/suite"
)

// The suite's Test function runs the specs itself: the ginkgo CLI treats a
// package whose test files do not import Ginkgo as a plain go test, and
// then passes it none of its flags (--procs, --label-filter, the reports).
func TestReference(t *testing.T) {
	RegisterFailHandler(Fail)
	// Every helper of labtest, and every lab brought up, stops with the
	// node it runs in: its NodeTimeout, or Ctrl-C.
	RunSpecs(t, "nslab reference suite (dockerd 20.10)", labtest.GinkgoContext)
}

// The suite needs root, a Docker 20.10 dockerd (lab.FindDockerd) and
// busybox-static; without one of them it skips, saying which. Its processes
// share a pool of labs; around the whole run the machine is compared with
// how it was (suite.Around): dockerd runs only inside the lab's namespaces.
// After the run, hostd's observations are compared with dockerd's.
var _ = suite.Around(suite.Runtime{
	Name: lab.RuntimeDockerd,
	Root: "it creates network namespaces and starts dockerd",
	Check: func() []string {
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
		return []string{dockerd}
	},
	Build: func() []string {
		// The overlay fixtures' etcd members run nslab-etcd: next to
		// $NSLAB_BIN (make test), $NSLAB_ETCD_BIN, or built here.
		if os.Getenv("NSLAB_BIN") != "" || os.Getenv("NSLAB_ETCD_BIN") != "" {
			return []string{""}
		}
		return suite.Build("nslab-etcd")
	},
	Use: func(p []string) scenarios.Runtime {
		return scenarios.Reference{Dockerd: p[0], Etcd: p[1]}
	},
	After: checkParity,
})

// checkParity compares this run's observations with the native suite's,
// once that run has finished (make test runs both suites side by side and
// compares after both, with nslab parity), and returns the report when a difference is
// not explained by the reviewed list of deliberate differences, as the
// error. The report is kept beside the observations as report.txt and
// report.xml (JUnit).
func checkParity() error {
	GinkgoHelper()
	dir := scenarios.ParityDir()
	if dir == "" {
		return nil // the suite skipped
	}
	list, err := parity.Reviewed()
	Expect(err).NotTo(HaveOccurred())
	rep, err := parity.Compare(dir, list)
	if errors.Is(err, parity.ErrNoRun) {
		fmt.Fprintf(os.Stderr, "parity not checked: %v\n", err)
		AddReportEntry("parity", fmt.Sprintf("not checked: %v", err))
		return nil
	}
	Expect(err).NotTo(HaveOccurred())
	var table, junit bytes.Buffer
	Expect(parity.WriteReport(&table, rep, "table")).To(Succeed())
	Expect(parity.WriteReport(&junit, rep, "junit")).To(Succeed())
	Expect(os.WriteFile(filepath.Join(dir, "report.txt"), table.Bytes(), 0o644)).To(Succeed())
	Expect(os.WriteFile(filepath.Join(dir, "report.xml"), junit.Bytes(), 0o644)).To(Succeed())
	fmt.Fprintf(os.Stderr, "parity: %s (report: %s)\n", rep.Summary(), filepath.Join(dir, "report.txt"))
	if rep.Unexplained() > 0 {
		return fmt.Errorf("hostd and dockerd differ where no deliberate difference explains it:\n%s", table.String())
	}
	return nil
}
