package scenarios

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/parity"
	"github.com/nslab/nslab/transcripts"
)

// TranscriptDir is transcripts/ in this repository.
func TranscriptDir() string {
	return sourcePath("transcripts")
}

// Every transcript runs as typed, on the suite's runtime, in a lab of its
// topology; one whose exercises the runtime does not have yet
// (parity/pending.yaml), or whose topology runs Open vSwitch where it is
// not installed, skips, saying which and why.
var _ = Describe("[transcripts] the seeds' exercises as a student types them", Label("transcript"), func() {
	eachTranscript(func(t *transcripts.Transcript) {
		It(fmt.Sprintf("%s (seed %s): %s", t.Name, t.Seed, t.Title), Label(t.Needs...), func(nodeCtx SpecContext) {
			pending, err := parity.PendingExercises()
			Expect(err).NotTo(HaveOccurred())
			var why []string
			for _, ex := range t.Needs {
				if reason, ok := pending.Why(current.Name(), ex); ok {
					why = append(why, ex+": "+reason)
				}
			}
			if len(why) > 0 {
				Skip(fmt.Sprintf("%s needs what %s does not have yet: %s", t.Name, current.Name(), strings.Join(why, "; ")))
			}
			topo, err := lab.LoadTopology(Fixture(t.Topology))
			Expect(err).NotTo(HaveOccurred())
			for _, h := range topo.Hosts {
				if h.OVS {
					requireOVS()
				}
			}
			runTranscript(nodeCtx, UpLab(t.Topology), t, 10*time.Minute)
		}, NodeTimeout(11*time.Minute)) // above the transcript's own 10 minutes
	})
})

// eachTranscript calls declare with every transcript of the repository,
// or declares one failing spec that says why they do not parse.
func eachTranscript(declare func(t *transcripts.Transcript)) {
	ts, err := transcripts.Load(TranscriptDir())
	if err != nil {
		It("parses every transcript", func(ctx SpecContext) { Fail(err.Error()) }, NodeTimeout(specTimeout))
		return
	}
	for _, t := range ts {
		declare(t)
	}
}

// runTranscript types t in l's hosts as a student does, within limit.
func runTranscript(nodeCtx context.Context, l *labtest.Lab, t *transcripts.Transcript, limit time.Duration) {
	GinkgoHelper()
	r := transcripts.Runner{Lab: l.Lab, Nslab: nslabBinary(), Log: GinkgoWriter, Timeout: time.Minute}
	ctx, cancel := context.WithTimeout(nodeCtx, limit)
	defer cancel()
	Expect(r.Run(ctx, t)).To(Succeed())
}

// nslabBinary is the nslab executable for transcripts' [lab] steps: the
// native suite's build, else $NSLAB_BIN.
func nslabBinary() string {
	if n, ok := current.(Native); ok && n.Binary != "" {
		return n.Binary
	}
	return os.Getenv("NSLAB_BIN")
}
