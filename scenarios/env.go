package scenarios

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/labtest"
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
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "fixtures", name+".yaml")
}

// UpLab brings up the fixture's lab on the suite's runtime for the current
// spec (labtest.Up through Ginkgo's testing.TB) and takes it down when the
// spec ends, whatever its outcome; a spec that passed first records what
// its lab looks like for the parity report. Call it from BeforeEach or It.
func UpLab(fixture string) *labtest.Lab {
	GinkgoHelper()
	Expect(current).NotTo(BeNil(), "the suite must select a runtime with scenarios.Use")
	l := labtest.Up(GinkgoTB(), Fixture(fixture), labtest.WithOptions(current.Options()))
	// Cleanups run last in, first out: this one before the lab goes down,
	// and a failure here still takes the lab down.
	DeferCleanup(func() { observeEnd(l) })
	return l
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
