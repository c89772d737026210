package scenarios

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns/probe"
)

// Runtime brings up the labs the specs run on.
type Runtime interface {
	// Name says which daemon runs on each virtual host ("hostd", "dockerd").
	Name() string
	// Up builds the lab; on error nothing of it is left.
	Up(ctx context.Context, t *lab.Topology) (*lab.Lab, error)
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

func (n Native) Up(ctx context.Context, t *lab.Topology) (*lab.Lab, error) {
	return lab.Up(ctx, t, lab.Options{Binary: n.Binary, Hostd: n.Hostd, Etcd: n.Etcd})
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

func (r Reference) Up(ctx context.Context, t *lab.Topology) (*lab.Lab, error) {
	return lab.Up(ctx, t, lab.Options{
		Runtime: lab.RuntimeDockerd,
		Dockerd: r.Dockerd,
		Etcd:    r.Etcd,
	})
}

// Deadlines for anything that travels or starts.
const (
	upTimeout    = 60 * time.Second
	probeTimeout = 5 * time.Second
	// silenceTimeout is how long a path that must fail has to stay silent:
	// a check of unreachability waits all of it.
	silenceTimeout = 2 * time.Second
)

// Fixture returns the path of fixtures/NAME.yaml in this repository.
func Fixture(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "fixtures", name+".yaml")
}

// UpLab brings up the fixture's lab for the current spec and takes it down
// when the spec ends, whatever its outcome. Call it from BeforeEach or It.
func UpLab(fixture string) *Lab {
	GinkgoHelper()
	Expect(current).NotTo(BeNil(), "the suite must select a runtime with scenarios.Use")
	t, err := lab.LoadTopology(Fixture(fixture))
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
	defer cancel()
	l, err := current.Up(ctx, t)
	Expect(err).NotTo(HaveOccurred(), "up %s on %s", fixture, current.Name())
	DeferCleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
		defer cancel()
		Expect(l.Down(ctx)).To(Succeed())
		_, err := os.Stat(l.StateDir())
		Expect(os.IsNotExist(err)).To(BeTrue(), "state dir %s left after down", l.StateDir())
	})
	sl := &Lab{Lab: l}
	// What the spec left, for the parity report. Cleanups run last in,
	// first out: this one before the lab goes down, and a failure here
	// still takes the lab down.
	DeferCleanup(func() { observeEnd(sl) })
	// A failed spec shows what the daemons and etcd members said, before
	// the lab and its logs are gone.
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() {
			for _, h := range l.Hosts() {
				for _, p := range h.Logs() {
					GinkgoWriter.Printf("--- %s: last lines of %s\n%s\n", h.Name, p, lab.Tail(p, 60))
				}
			}
		}
	})
	return sl
}

// Lab is a running lab seen from a spec.
type Lab struct {
	*lab.Lab

	mu   sync.Mutex
	ways []string // how the spec drove the daemons (usedWay)
}

// H returns the named host; the spec fails if there is none.
func (l *Lab) H(name string) *lab.Host {
	GinkgoHelper()
	h, err := l.Host(name)
	Expect(err).NotTo(HaveOccurred())
	return h
}

// Sh runs a shell command line inside a virtual host, as a student types it
// there, and returns its standard output; it must exit 0.
func (l *Lab) Sh(host, line string) string {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := l.H(host).Exec(ctx, "sh", "-c", line)
	Expect(err).NotTo(HaveOccurred(), "on %s: %s", host, line)
	Expect(r.ExitCode).To(BeZero(), "on %s: %s\nstdout: %s\nstderr: %s", host, line, r.Stdout, r.Stderr)
	return r.Stdout
}

func contextWithTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// ExpectPing requires an echo reply from dst to pings sent from inside the
// namespace at ns (a pin or /proc/PID/ns/net) within probeTimeout.
func ExpectPing(ns, dst string) {
	GinkgoHelper()
	a := netip.MustParseAddr(dst)
	r, err := probe.Ping(context.Background(), ns, a, probe.Opts{Timeout: probeTimeout})
	Expect(err).NotTo(HaveOccurred())
	Expect(r.From).To(Equal(a), "the reply to a ping of %s came from elsewhere", dst)
}

// ExpectNoPing requires that dst stays silent to pings from inside the
// namespace at ns for the whole of silenceTimeout.
func ExpectNoPing(ns, dst string) {
	GinkgoHelper()
	Expect(probe.ExpectUnreachable(context.Background(), ns, netip.MustParseAddr(dst),
		probe.Opts{Timeout: silenceTimeout})).To(Succeed())
}
