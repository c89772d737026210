package labtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns/kernel"
)

// hungSuiteEnv makes the test binary run hungSuite instead of its tests.
const hungSuiteEnv = "LABTEST_HUNG_SUITE_LAB"

func TestMain(m *testing.M) {
	if id := os.Getenv(hungSuiteEnv); id != "" {
		os.Exit(hungSuite(id))
	}
	os.Exit(m.Run())
}

// hungSuite is a Ginkgo suite under GinkgoContext whose one spec brings a
// lab up and waits on a probe that would stay silent for a minute, under
// a NodeTimeout of 3 s.
func hungSuite(id string) int {
	ginkgo.It("waits on a silent address", func(ctx ginkgo.SpecContext) {
		l := Up(ginkgo.GinkgoTB(), twoPlain, WithID(id))
		gomega.Expect(l.Host("a")).NotTo(Reach("10.10.0.99").Within(time.Minute))
	}, ginkgo.NodeTimeout(3*time.Second), ginkgo.GracePeriod(20*time.Second))
	gomega.RegisterFailHandler(ginkgo.Fail)
	flag.Parse()
	ok := ginkgo.RunSpecs(hungT{}, "hung probe", GinkgoContext)
	if ok {
		return 0
	}
	return 1
}

// hungT is the suite's testing.T: RunSpecs only needs Fail.
type hungT struct{}

func (hungT) Fail() {}

// A probe hung inside a Ginkgo spec is cancelled at its node's timeout,
// not at its own deadline, and the spec's lab is torn down: run in a child
// process, whose suite must fail with Ginkgo's timeout well before the
// probe's minute, with no node left running past its grace period, and
// leave nothing of the lab.
func TestNodeTimeoutCancelsHungProbe(t *testing.T) {
	needRoot(t)
	b := make([]byte, 2)
	rand.Read(b)
	id := "lthung" + hex.EncodeToString(b)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), hungSuiteEnv+"="+id)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	t.Logf("child suite (%s):\n%s", took.Round(time.Millisecond), out.String())
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("the child suite passed or did not run: %v", err)
	}
	if !strings.Contains(out.String(), "A node timeout occurred") {
		t.Fatal("the spec did not end with its node timeout")
	}
	if strings.Contains(out.String(), "failed to exit in time") {
		t.Fatal("the probe outlived its node's grace period")
	}
	if took > 30*time.Second {
		t.Fatalf("the suite took %s: the probe ran on after its node timed out", took)
	}
	if _, err := os.Stat(filepath.Join(lab.DefaultRoot, id)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lab %s's state directory after the suite: %v", id, err)
	}
	if pins, _ := kernel.Pins(id + "-"); len(pins) > 0 {
		t.Fatalf("lab %s's namespaces after the suite: %v", id, pins)
	}
}
