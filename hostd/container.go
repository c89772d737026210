package hostd

import (
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/image"
	"github.com/nslab/nslab/hostd/mount"
	"github.com/nslab/nslab/hostd/proc"
	"github.com/nslab/nslab/netimpl"
)

// Container states, as Docker names them.
const (
	stateCreated  = "created"
	StateRunning  = "running"
	StateExited   = "exited"
	stateRemoving = "removing"
)

// Container is one container of this host: a set of namespaces running a
// command in a root filesystem of its own (its image's layers and a
// writable layer). Fields after the mutex note are
// guarded by Daemon.mu; op serializes start, stop, restart, rename and
// remove.
type Container struct {
	ID string
	// Name is without Docker's leading slash. A rename changes it under
	// op and Daemon.mu: read it holding either (or through nameOf).
	Name       string
	Created    time.Time
	Config     types.ContainerConfig
	HostConfig types.HostConfig
	// image is the image the container was created from (set at create,
	// never changed): its ID is inspect's Image, its Layers the lower
	// dirs of the container's root filesystem. It stays with the
	// container when docker rmi -f deletes it from the host.
	image   *image.Image
	dir     string // state: hosts, resolv.conf, hostname, log (under Root)
	data    string // writable layer (under DataRoot)
	mounts  []*mount.Point
	streams *proc.Streams
	op      sync.Mutex

	// Guarded by Daemon.mu.
	state         string
	removed       bool
	exitCode      int
	errMsg        string
	startedAt     time.Time
	finishedAt    time.Time
	networks      map[string]*types.EndpointSettings
	sandbox       netimpl.Sandbox
	hostsPath     string
	resolvPath    string
	hostnamePath  string
	run           *run
	exitWaiters   []chan int
	removeWaiters []chan int
	execIDs       []string
	// linkEnv are the variables of its --link targets, for its processes.
	linkEnv []string
}

// run is one execution of a container's command.
type run struct {
	proc  *proc.Child
	pid   int
	pidNS uint64 // the inode of its PID namespace
	io    *proc.Stdio
	done  chan struct{}
}

// shortID is the 12-hex form Docker prints and uses as default hostname.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// netMode is HostConfig.NetworkMode with Docker's helpers.
type netMode string

func (m netMode) isHost() bool { return m == "host" }

func (m netMode) container() (string, bool) {
	return strings.CutPrefix(string(m), "container:")
}

// network is the network the mode names; "default" and "" mean bridge.
func (m netMode) network() string {
	if m == "" || m == "default" {
		return "bridge"
	}
	return string(m)
}

// argv is the command the container runs: Entrypoint followed by Cmd.
func (c *Container) argv() []string {
	return append(append([]string{}, c.Config.Entrypoint...), c.Config.Cmd...)
}

// env is the environment of a container process as Docker's
// CreateDaemonEnvironment makes it: PATH and HOSTNAME, TERM when the process
// has a terminal (an exec's own -t, not the container's), the link
// variables, then the container's environment replacing or appending. The
// init (or exec) adds HOME last from the user's passwd entry when it is not
// set, as runc does.
func (c *Container) env(tty bool, links []string) []string {
	env := []string{"PATH=" + defaultPath, "HOSTNAME=" + c.Config.Hostname}
	if tty {
		env = append(env, "TERM=xterm")
	}
	return mergeEnv(append(env, links...), c.Config.Env)
}

// workDir is the directory the command starts in.
func (c *Container) workDir() string {
	if c.Config.WorkingDir != "" {
		return c.Config.WorkingDir
	}
	return "/"
}

func (c *Container) logPath() string { return filepath.Join(c.dir, "container.log") }

func errNoSuchContainer(ref string) error { return errdefs.NotFound("No such container: %s", ref) }

func errNotRunning(id string) error { return errdefs.Conflict("Container %s is not running", id) }

// Streams are the container's standard streams across its runs: its log
// and the clients attached to it.
func (c *Container) Streams() *proc.Streams { return c.streams }
