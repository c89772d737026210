// Package suite is what the native and the reference suite share around
// the scenarios: the run set up before the first spec and compared after
// the last (scenarios.StartSuite, JoinSuite, EndSuite) on the runtime each
// suite names. Each suite's Test function runs the specs itself (see there).
package suite

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/nslab/nslab/scenarios"
)

// Build builds nslab's programs named (nslab, nslab-hostd, nslab-etcd:
// commands under cmd/) into the run's TMPDIR, and returns their paths in
// the same order. Call it from a Runtime's Build.
func Build(programs ...string) []string {
	paths := make([]string, len(programs))
	for i, name := range programs {
		p, err := gexec.Build("github.com/nslab/nslab/cmd/" + name)
		Expect(err).NotTo(HaveOccurred(), "build %s", name)
		paths[i] = p
	}
	return paths
}

// A Runtime is what a suite runs the scenarios on, and how it gets there.
type Runtime struct {
	// Name is the runtime as the run and its parity observations name it
	// (lab.RuntimeHostd, lab.RuntimeDockerd).
	Name string
	// Root says why the suite needs root, when it skips without.
	Root string
	// Check, when set, runs in the first process before the run starts: it skips the
	// suite, saying why, where the runtime cannot run here, and returns
	// the programs it found (nil: none).
	Check func() []string
	// Build runs in the first process once the run started, so that what
	// it builds lands in the run's TMPDIR, and returns the programs every
	// process needs beside Check's.
	Build func() []string
	// Use makes every process's runtime from Check's programs followed by
	// Build's.
	Use func(programs []string) scenarios.Runtime
	// After, when set, runs in the first process once the run ended and
	// the machine was compared; an error it returns fails the suite.
	After func() error
}

// handover is what the first process hands every process.
type handover struct {
	Programs []string        `json:"programs"`
	Run      json.RawMessage `json:"run"`
}

// Around declares what runs around the suite's specs on r (at package
// level: `var _ = suite.Around(...)`). Before them, the first process
// checks that it runs as root and that the runtime can run here, starts the run (its TMPDIR, the record of the
// machine, the pool of labs) and builds; every process then joins the run
// on the runtime. After them, every process leaves the run (its pool's
// idle labs are left for the end), and the first removes the builds, ends
// the run and compares the machine's root network namespace (mount table
// included) and nslab's entries in its /tmp with how they were: a
// difference named by one of the run's labs or by none, or anything the run
// left in its TMPDIR, fails the suite; one named by another run's lab is
// reported.
func Around(r Runtime) bool {
	SynchronizedBeforeSuite(func() []byte {
		if os.Geteuid() != 0 {
			Skip(fmt.Sprintf("the suite on %s needs root: %s", r.Name, r.Root))
		}
		var found []string
		if r.Check != nil {
			found = r.Check()
		}
		run, err := scenarios.StartSuite(r.Name)
		Expect(err).NotTo(HaveOccurred())
		data, err := json.Marshal(handover{Programs: append(found, r.Build()...), Run: run})
		Expect(err).NotTo(HaveOccurred())
		return data
	}, func(data []byte) {
		if len(data) == 0 {
			return // the first process skipped the suite
		}
		var h handover
		Expect(json.Unmarshal(data, &h)).To(Succeed())
		scenarios.Use(r.Use(h.Programs))
		_, err := scenarios.JoinSuite(h.Run)
		Expect(err).NotTo(HaveOccurred())
	})
	SynchronizedAfterSuite(scenarios.LeaveSuite, func(ctx SpecContext) {
		gexec.CleanupBuildArtifacts()
		mine, foreign, err := scenarios.EndSuite(ctx)
		Expect(err).NotTo(HaveOccurred())
		if len(foreign) > 0 {
			AddReportEntry("changes of other runs", strings.Join(foreign, "\n"))
		}
		var after error
		if r.After != nil {
			after = r.After()
		}
		Expect(mine).To(BeEmpty(), fmt.Sprintf("the root network namespace or the machine's /tmp changed during the suite:\n%s", strings.Join(mine, "\n")))
		Expect(after).NotTo(HaveOccurred())
	}, NodeTimeout(2*time.Minute))
	return true
}
