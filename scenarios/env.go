package scenarios

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/internal/srcroot"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns/probe"
)

// Runtime brings up the labs the specs run on.
type Runtime interface {
	// Name says which daemon runs on each virtual host ("hostd", "dockerd").
	Name() string
	// Options are the lab options of its labs.
	Options() lab.Options
}

var current Runtime

// Use selects the runtime for every spec of the suite.
func Use(r Runtime) { current = r }

// Native runs hostd on every virtual host.
type Native struct {
	// Binary is the nslab executable: the CLI of the specs that run
	// nslab commands, next to which the lab looks for its programs.
	Binary string
	// Hostd is the nslab-hostd executable of the docker hosts; "" for the
	// lab's choice ($NSLAB_HOSTD_BIN, next to Binary).
	Hostd string
	// Etcd is the nslab-etcd executable of the topologies' etcd members;
	// "" for the lab's choice (next to Binary).
	Etcd string
}

func (Native) Name() string { return "hostd" }

func (n Native) Options() lab.Options {
	return lab.Options{Binary: n.Binary, Hostd: n.Hostd, Etcd: n.Etcd}
}

// Reference runs a real dockerd (Debian's docker.io, 20.10) on every
// virtual host: the behaviour hostd is held to.
type Reference struct {
	// Dockerd is the dockerd executable; "" for lab.FindDockerd's choice.
	// Every daemon loads the default image the lab builds from
	// busybox-static, the same archive hostd's hosts start with.
	Dockerd string
	// Etcd is the nslab-etcd executable of the topologies' etcd members;
	// "" for the lab's choice ($NSLAB_ETCD_BIN, next to $NSLAB_BIN).
	Etcd string
}

func (Reference) Name() string { return lab.RuntimeDockerd }

func (r Reference) Options() lab.Options {
	return lab.Options{
		Runtime: lab.RuntimeDockerd,
		Dockerd: r.Dockerd,
		Etcd:    r.Etcd,
	}
}

// Deadlines for anything that travels or starts, as the specs name them.
const (
	probeTimeout   = labtest.ProbeTimeout
	silenceTimeout = labtest.SilenceTimeout
	// setupTimeout bounds a spec's setup node (BeforeEach: a lab coming
	// up, real dockerds and their images included), specTimeout one It:
	// at either, Ginkgo cancels the node's context, which every probe,
	// command and API call of the node derives from, and the lab goes.
	setupTimeout = 3 * time.Minute
	specTimeout  = 5 * time.Minute
)

// Fixture returns the path of fixtures/NAME.yaml in this repository.
func Fixture(name string) string {
	return sourcePath("fixtures", name+".yaml")
}

// sourcePath is the path of elem in the source of the nslab module this
// build came from (srcroot.Dir), which every file the specs read lies in.
func sourcePath(elem ...string) string {
	root, ok := srcroot.Dir()
	if !ok {
		panic(fmt.Sprintf("scenarios: %s is not found: the source of the %s module this binary was built from is not on disk where it tells (built with -trimpath outside a test)", filepath.Join(elem...), srcroot.Module))
	}
	return filepath.Join(append([]string{root}, elem...)...)
}

// pool is where UpLab takes its labs from (nil: each spec brings its own
// up).
var pool *labtest.Pool

// UsePool makes UpLab take the fixtures' labs from p: a lab an earlier spec
// gave back, reset to how up left it, or a new one; the spec gives it back
// when it ends (see labtest.Pool).
func UsePool(p *labtest.Pool) { pool = p }

// UpLab gives the current spec the fixture's lab on the suite's runtime
// (labtest.Up through Ginkgo's testing.TB): from the suite's pool when it
// has one, reset to how up left it, else brought up; when the spec ends,
// whatever its outcome, the lab goes back to the pool or down. A spec that
// passed first records what its lab looks like for the parity report.
// Call it from BeforeEach or It.
func UpLab(fixture string) *labtest.Lab {
	GinkgoHelper()
	return upLab(fixture, pool)
}

// UpFreshLab is UpLab for a spec that leaves what a reset cannot restore
// (it stops an etcd member or kills a daemon, which only up starts): it
// brings up a lab of the spec's own and takes it down when the spec ends.
func UpFreshLab(fixture string) *labtest.Lab {
	GinkgoHelper()
	return upLab(fixture, nil)
}

func upLab(fixture string, p *labtest.Pool) *labtest.Lab {
	GinkgoHelper()
	Expect(current).NotTo(BeNil(), "the suite must select a runtime with scenarios.Use")
	opts := []labtest.Option{labtest.WithOptions(current.Options())}
	how := "up"
	if p != nil {
		opts, how = append(opts, labtest.FromPool(p)), "pool"
	}
	// Cleanups run last in, first out: the lab's going back or down is
	// timed from the second to the first of these.
	var released time.Time
	DeferCleanup(func() { AddReportEntry("lab release", time.Since(released), ReportEntryVisibilityNever) })
	t0 := time.Now()
	l := labtest.Up(GinkgoTB(), Fixture(fixture), opts...)
	if l.Reused() {
		how = "pool, reset"
	}
	if p == nil && pool != nil {
		// The run answers for what its own labs leave (rootns.Mine).
		Expect(pool.Record(l.ID())).To(Succeed())
	}
	AddReportEntry("lab", LabTiming{Fixture: fixture, How: how, ID: l.ID(), Acquire: time.Since(t0)}, ReportEntryVisibilityNever)
	DeferCleanup(func() { released = time.Now() })
	// Before the lab goes back or down, and a failure here still lets it
	// go.
	DeferCleanup(func() { observeEnd(l) })
	return l
}

// Every spec's report says how long its probes waited (probe.Waited),
// summed over the probes it ran, those that run at once included:
// the "probes" entry, a ProbeTiming.
var _ = BeforeEach(func() {
	a0, s0 := probe.Waited()
	DeferCleanup(func() {
		a, s := probe.Waited()
		AddReportEntry("probes", ProbeTiming{Answered: a - a0, Silent: s - s0}, ReportEntryVisibilityNever)
	})
})

// ProbeTiming is how long a spec's probes waited: for the answers that
// came, and through the deadlines of paths that had to stay silent.
type ProbeTiming struct {
	Answered, Silent time.Duration
}

// LabTiming is what a spec's report says of its lab ("lab" entry): which
// fixture, from where ("up": a lab of its own; "pool": brought up for the
// pool; "pool, reset": one an earlier spec gave back), and how long
// getting it took. The "lab release" entry is how long giving it back or
// taking it down took.
type LabTiming struct {
	Fixture, How, ID string
	Acquire          time.Duration
}

// contextWithTimeout is a context for one step of a spec.
func contextWithTimeout() (context.Context, context.CancelFunc) {
	return labtest.StepContext(labtest.StepTimeout)
}

// runAll runs each container in turn, as MustRun does.
func runAll(d labtest.Docker, runs []labtest.Run) {
	GinkgoHelper()
	for _, r := range runs {
		labtest.MustRun(d, r)
	}
}

// takeDown takes the lab down before the spec ends, for a spec that checks
// what is left afterwards; what the spec leaves for the parity report is
// recorded first, and not again at its end.
func takeDown(ctx context.Context, l *labtest.Lab) error {
	observeEnd(l)
	downEarly.Store(l, true)
	return l.Down(ctx)
}

// downEarly holds the labs that takeDown took down.
var downEarly sync.Map

// InHost names, for the spec on the machine, the file at path inside a
// virtual host's own mount namespace (a namespace a student pinned under
// the host's /var/run/netns, a daemon's /var/run/docker/netns/KEY):
// /proc/self/fd/N of a descriptor held until the spec ends.
func InHost(l *labtest.Lab, host, path string) string {
	GinkgoHelper()
	f, err := l.H(host).Open(path)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(f.Close)
	return fmt.Sprintf("/proc/self/fd/%d", f.Fd())
}

// ExpectNotOnMachine requires that the machine has nothing at any of the
// paths: what a student makes under a host's /var/run stays in the host.
func ExpectNotOnMachine(paths ...string) {
	GinkgoHelper()
	for _, p := range paths {
		_, err := os.Lstat(p)
		Expect(os.IsNotExist(err)).To(BeTrue(), "%s exists on the machine: what a host makes under its /var/run must stay in the host (%v)", p, err)
	}
}
