package hostd

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/creack/pty"
	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/events"
	"github.com/nslab/nslab/hostd/image"
	"github.com/nslab/nslab/hostd/mount"
	"github.com/nslab/nslab/hostd/proc"
	"github.com/nslab/nslab/hostd/rootfs/launch"
	"github.com/nslab/nslab/hostd/volume"
	"github.com/nslab/nslab/hostdconfig"
	"github.com/nslab/nslab/netimpl/controller"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
	"github.com/nslab/nslab/undo"
)

// Daemon is one virtual host's container runtime, with its network
// controller.
type Daemon struct {
	cfg hostdconfig.Config
	// ctl is the host's network side: networks, containers' sandboxes and
	// endpoints, their files and services, the cluster store, tunnels.
	ctl *controller.Controller
	// mounts is the template of every container's mount namespace.
	mounts *mount.Template
	// store is the machine's image store; images are this host's images
	// and tags.
	store  *image.Store
	images *image.Repository
	reaper *proc.Reaper
	// start is how containers start (package launch): decided once, by
	// what the kernel has.
	start    launch.Way
	hostname string
	// initLayer is the lower layer above every image's (mount points,
	// /.dockerenv), under the data root; made with the first container
	// (initLayerMade, under mu).
	initLayer     string
	initLayerMade bool
	// volumes are the local volumes, under the data root.
	volumes *volume.Store
	// events are what GET /events streams.
	events  events.Log
	started time.Time
	log     *log.Logger

	mu         sync.Mutex
	containers map[string]*Container
	names      map[string]string
	execs      map[string]*Exec
	closing    bool
}

// NewDaemon prepares the state directory, the reaper, the mount template
// and the network controller with its predefined networks. On error
// nothing of it is left.
//
// pins is where the /run/netns pins of containers and overlay networks go
// (the machine's mount namespace when hostd runs in a virtual host's own);
// with cfg.ExecRoot, each is also pinned under Docker's name in
// <ExecRoot>/netns, the sandbox key hostd itself works through.
func NewDaemon(cfg hostdconfig.Config, pins *netns.Pins, logger *log.Logger) (_ *Daemon, err error) {
	// The bridge driver acts in the namespace hostd runs in: never let
	// that be the machine's own.
	if err := CheckNamespaces(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("hostd %s: %w", cfg.Host, err)
		}
	}()
	hostname, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	cfg.FillDefaults()
	start, why, err := launch.Detected()
	if err != nil {
		return nil, err
	}
	logger.Printf("containers start %v: %s", start, why)
	// The containers' directories, the volumes and the init layer are
	// made with the first that needs them: a docker host that never runs
	// a container has no files to make at its start nor to remove at its
	// end.
	volumes, err := volume.Open(filepath.Join(cfg.DataRoot, "volumes"))
	if err != nil {
		return nil, fmt.Errorf("volumes: %w", err)
	}
	initLayer := filepath.Join(cfg.DataRoot, "init")
	rp := proc.NewReaper()
	if cfg.ImageStore == "" {
		cfg.ImageStore = image.StoreDir()
	}
	// The images open while the controller writes the firewall and makes
	// docker0, whose iptables-restore runs meanwhile: about 1.5 ms off
	// the start. Both are in hand before NewDaemon returns.
	waitImages := openImagesMeanwhile(cfg, rp)
	defer waitImages()
	var u undo.Steps
	defer u.OnError(&err)
	mounts, err := mount.NewTemplate()
	if err != nil {
		return nil, err
	}
	u.Add(mounts.Close)
	ctl, err := controller.New(cfg, controller.Options{Log: logger, Pins: pins, Guard: func(fn func() error) error {
		// The iptables tools are the firewall's to wait for.
		rp.BeginForeign()
		defer rp.EndForeign()
		return fn()
	}})
	if err != nil {
		return nil, err
	}
	u.Add(func() { ctl.Close() })
	store, images, err := waitImages()
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	d := &Daemon{
		cfg:        cfg,
		ctl:        ctl,
		mounts:     mounts,
		store:      store,
		images:     images,
		reaper:     rp,
		start:      start,
		hostname:   hostname,
		initLayer:  initLayer,
		volumes:    volumes,
		started:    time.Now(),
		log:        logger,
		containers: map[string]*Container{},
		names:      map[string]string{},
		execs:      map[string]*Exec{},
	}
	return d, nil
}

// lookup finds a container as Docker does: full id, name (with or without
// the leading slash), then a unique id prefix. Callers hold d.mu.
func (d *Daemon) lookup(ref string) (*Container, error) {
	if c, ok := d.containers[ref]; ok {
		return c, nil
	}
	if id, ok := d.names[strings.TrimPrefix(ref, "/")]; ok {
		return d.containers[id], nil
	}
	var found *Container
	if ref != "" {
		for id, c := range d.containers {
			if strings.HasPrefix(id, ref) {
				if found != nil {
					return nil, errdefs.BadRequest("Multiple IDs found with provided prefix: %s", ref)
				}
				found = c
			}
		}
	}
	if found == nil {
		return nil, errNoSuchContainer(ref)
	}
	return found, nil
}

// Container is lookup with the lock taken.
func (d *Daemon) Container(ref string) (*Container, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lookup(ref)
}

// running looks up a container by reference and returns it with its
// current run; a container that does not run is Docker's 409.
func (d *Daemon) running(ref string) (*Container, *run, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.lookup(ref)
	if err != nil {
		return nil, nil, err
	}
	if c.run == nil {
		return nil, nil, errNotRunning(c.ID)
	}
	return c, c.run, nil
}

// Shutdown kills every container, waits for it, removes its namespace pins
// and files, and closes the network controller. It is what SIGTERM does.
func (d *Daemon) Shutdown() error {
	d.mu.Lock()
	d.closing = true
	var all []*Container
	for _, c := range d.containers {
		all = append(all, c)
	}
	d.mu.Unlock()
	d.ctl.BeginClose()
	var wg sync.WaitGroup
	errs := make([]error, len(all))
	for i, c := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.Remove(c, true, false)
		}()
	}
	wg.Wait()
	d.ReleaseImages()
	errs = append(errs, d.ctl.Close())
	d.mounts.Close()
	// Each container's writable layer went with it; the data root keeps
	// the volumes, as dockerd's does (the lab removes it with the lab).
	for _, dir := range []string{filepath.Join(d.cfg.Root, "containers"), filepath.Join(d.cfg.DataRoot, "containers"), d.initLayer} {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	// Whatever a container left behind was killed; collect it.
	d.reaper.Drain(5 * time.Second)
	return errors.Join(errs...)
}

// procUTSInitIno is the kernel's fixed inode of the initial UTS namespace
// (PROC_UTS_INIT_INO).
const procUTSInitIno = 0xEFFFFFFE

// CheckNamespaces refuses to run where hostd would change the machine: its
// hostname (UTS namespace) or its network (root network namespace). The
// reference is hostd's parent (the lab, in the machine's namespaces), and
// pid 1 where it can be read; a sandbox may hide pid 1's namespaces.
func CheckNamespaces() error {
	for _, kind := range []string{"uts", "net"} {
		self, err := kernel.NSInode(os.Getpid(), kind)
		if err != nil {
			return err
		}
		same := kind == "uts" && self == procUTSInitIno
		for _, ref := range []int{os.Getppid(), 1} {
			if ino, err := kernel.NSInode(ref, kind); err == nil && ino == self {
				same = true
			}
		}
		if same {
			return fmt.Errorf("hostd runs in the machine's own %s namespace; it must be started in the virtual host's network namespace and a new UTS namespace", kind)
		}
	}
	return nil
}

// ContainerCounts counts the containers, running and not.
func (d *Daemon) ContainerCounts() (total, running, stopped int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.containers {
		if c.state == StateRunning {
			running++
		} else {
			stopped++
		}
	}
	return len(d.containers), running, stopped
}

// DaemonID is the engine's ID in Docker's shape (12 groups of 4), derived
// from the stable id of this host's "host" network.
func (d *Daemon) DaemonID() string {
	n, err := d.ctl.Network("host")
	if err != nil {
		return ""
	}
	id := strings.ToUpper(n.ID[:48])
	var groups []string
	for i := 0; i < len(id); i += 4 {
		groups = append(groups, id[i:i+4])
	}
	return strings.Join(groups, ":")
}

// The parts of the daemon its API serves from.

// Config is the daemon's configuration.
func (d *Daemon) Config() hostdconfig.Config { return d.cfg }

// Hostname is the virtual host's name.
func (d *Daemon) Hostname() string { return d.hostname }

// Started is when the daemon started.
func (d *Daemon) Started() time.Time { return d.started }

// Log is the daemon's log.
func (d *Daemon) Log() *log.Logger { return d.log }

// Controller is the host's network controller.
func (d *Daemon) Controller() *controller.Controller { return d.ctl }

// Images is the host's image repository: its images and tags.
func (d *Daemon) Images() *image.Repository { return d.images }

// ImageStore is the machine's image store, where the images' layers are.
func (d *Daemon) ImageStore() *image.Store { return d.store }

// Volumes are the host's local volumes.
func (d *Daemon) Volumes() *volume.Store { return d.volumes }

// Reaper waits for every process the daemon starts.
func (d *Daemon) Reaper() *proc.Reaper { return d.reaper }

// Events are the daemon's events, as GET /events streams them.
func (d *Daemon) Events() *events.Log { return &d.events }

// PruneContainers removes every container that does not run, and returns
// their IDs.
func (d *Daemon) PruneContainers() []string {
	d.mu.Lock()
	var stopped []*Container
	for _, c := range d.containers {
		if c.state != StateRunning {
			stopped = append(stopped, c)
		}
	}
	d.mu.Unlock()
	var deleted []string
	for _, c := range stopped {
		if err := d.Remove(c, false, false); err == nil {
			deleted = append(deleted, c.ID)
		}
	}
	d.PruneEvent(events.Container, 0)
	return deleted
}

// Resize sets the size of the running container's terminal, if it has one.
func (d *Daemon) Resize(ref string, h, w uint16) error {
	c, run, err := d.running(ref)
	if err != nil {
		return err
	}
	if run.io.PTY != nil {
		if err := pty.Setsize(run.io.PTY, &pty.Winsize{Rows: h, Cols: w}); err != nil {
			return err
		}
	}
	d.ContainerEventUnlocked(c, "resize", map[string]string{"height": strconv.Itoa(int(h)), "width": strconv.Itoa(int(w))})
	return nil
}

// Processes returns the running container and the processes of its PID
// namespace.
func (d *Daemon) Processes(ref string) (*Container, []int, error) {
	c, run, err := d.running(ref)
	if err != nil {
		return nil, nil, err
	}
	return c, proc.PIDsInPIDNS(run.pidNS), nil
}
