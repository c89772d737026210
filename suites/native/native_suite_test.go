// Package native runs every scenario on hostd, nslab's own daemon.
package native

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/scenarios"
	"github.com/nslab/nslab/suites/internal/suite"
)

// The suite's Test function runs the specs itself: the ginkgo CLI treats a
// package whose test files do not import Ginkgo as a plain go test, and
// then passes it none of its flags (--procs, --label-filter, the reports).
func TestNative(t *testing.T) {
	RegisterFailHandler(Fail)
	// Every helper of labtest, and every lab brought up, stops with the
	// node it runs in: its NodeTimeout, or Ctrl-C.
	RunSpecs(t, "nslab native suite (hostd)", labtest.GinkgoContext)
}

// The suite builds nslab, nslab-hostd and nslab-etcd once
// (unless NSLAB_BIN names a build, with the programs next to it). Its
// processes share a pool of labs; around the whole run the machine is
// compared with how it was (suite.Around).
var _ = suite.Around(suite.Runtime{
	Name: lab.RuntimeHostd,
	Root: "it creates network namespaces",
	Build: func() []string {
		if bin := os.Getenv("NSLAB_BIN"); bin != "" {
			return []string{bin, "", ""}
		}
		// The docker hosts run nslab-hostd, the etcd members of the
		// overlay fixtures nslab-etcd.
		return suite.Build("nslab", "nslab-hostd", "nslab-etcd")
	},
	Use: func(p []string) scenarios.Runtime {
		return scenarios.Native{Binary: p[0], Hostd: p[1], Etcd: p[2]}
	},
})
