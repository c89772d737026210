package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostd/image"
	"github.com/nslab/nslab/hostdconfig"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// Options tune Up. The zero value is usable.
type Options struct {
	// ID is the lab id (^[a-z][a-z0-9]{2,9}$); default "nsl" + 4 random hex.
	ID string
	// Root is the state root; default DefaultRoot.
	Root string
	// Binary is the nslab executable, next to which the lab looks for its
	// programs (Hostd, Etcd); default $NSLAB_BIN, else this executable.
	Binary string
	// Hostd is the nslab-hostd executable that runs on every docker host
	// of RuntimeHostd; default $NSLAB_HOSTD_BIN, else nslab-hostd next to
	// the nslab binary (Binary, $NSLAB_BIN or this executable), else on
	// PATH, else built from this nslab module (BuildProgram).
	Hostd string
	// Progress receives one line per step (nil: discarded).
	Progress io.Writer
	// Parallel bounds how many hosts are built at once, and how many
	// daemons are started and given their containers at once. Default:
	// runtime.NumCPU() hosts (the kernel builds a host's links under its
	// rtnl lock, one for the whole machine: more builders than CPUs spin
	// on it), runtime.NumCPU()*4 daemons (which mostly wait).
	Parallel int
	// Runtime is the daemon of the docker hosts: RuntimeHostd (default)
	// or RuntimeDockerd, a real dockerd 20.10 (see dockerd.go).
	Runtime string
	// Dockerd is the dockerd executable of RuntimeDockerd; default
	// FindDockerd's choice.
	Dockerd string
	// Images are `docker save` archives every docker host starts with,
	// after the default image and the topology's own (both runtimes):
	// loaded once into the machine's image store for hostd, into each
	// dockerd for RuntimeDockerd.
	Images []string
	// ImageStore is the machine's image store; default $NSLAB_IMAGE_STORE,
	// else /var/lib/nslab/images.
	ImageStore string
	// DataRoot holds the lab's data root, <DataRoot>/<id> (a tmpfs the
	// lab mounts there for its life), with one directory per docker host
	// (hostd's --data-root); default DefaultDataRoot.
	DataRoot string
	// Etcd is the nslab-etcd executable that runs the topology's etcd
	// members; default $NSLAB_ETCD_BIN, else nslab-etcd next to the nslab
	// binary (Binary, $NSLAB_BIN or this executable), else on PATH, else
	// built from this nslab module (BuildProgram).
	Etcd string
	// Resettable keeps, once the lab is up, its state as the kernel and
	// the daemons report it (in the state directory), so that Reset can
	// put the lab back to it. Reading it costs a few milliseconds per
	// host: benchmarks of up go without.
	Resettable bool
	// OnDemand starts a docker host's hostd at the host's first use (a
	// connection to its Docker API, a command run in it) instead of at
	// up, unless up uses the host itself (topology containers, a cluster
	// store): a lab of many docker hosts, few of them used, comes up and
	// goes down at nearly the cost of plain hosts. Until then the host has
	// no docker0 and none of Docker's rules. RuntimeHostd only, and not
	// with Resettable (see ondemand.go).
	OnDemand bool

	// timings, when set, adds up the time of each step (the benchmarks'
	// breakdown).
	timings *timings
}

// Lab is a running lab.
type Lab struct {
	root  string
	dir   string
	topo  *Topology
	hosts []*Host
	named map[string]*Host

	mu    sync.Mutex // guards state and its file
	state *labState
	// images are what every hostd starts with (Up only).
	images []hostdconfig.Image
	// base is the state Reset returns to (Options.Resettable).
	base *baseline
	// ovs is Open vSwitch, found by Up when a host asks for it.
	ovs ovsPrograms

	timings *timings // nil outside the benchmarks' breakdown
}

// ID returns the lab id, the prefix of every name the lab makes.
func (l *Lab) ID() string { return l.state.ID }

// Topology returns the topology the lab was built from, defaults filled in.
func (l *Lab) Topology() *Topology { return l.topo }

// StateDir returns <root>/<id>.
func (l *Lab) StateDir() string { return l.dir }

// Hosts returns the lab's hosts in topology order.
func (l *Lab) Hosts() []*Host { return l.hosts }

// Host returns the named host.
func (l *Lab) Host(name string) (*Host, error) {
	h, ok := l.named[name]
	if !ok {
		return nil, fmt.Errorf("lab %s: no host %q", l.ID(), name)
	}
	return h, nil
}

// SetOwner makes pid the owner of the lab: GC removes the lab once that
// process is gone. The CLI's detached keeper takes ownership this way.
func (l *Lab) SetOwner(pid int) error {
	start, ok := procStart(pid)
	if !ok {
		return fmt.Errorf("lab %s: owner %d: no such process", l.ID(), pid)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state.Owner, l.state.OwnerStart = pid, start
	return writeState(l.dir, l.state)
}

// Up builds the lab described by t. On any error everything made so far is
// removed again and the error says what failed.
func Up(ctx context.Context, t *Topology, o Options) (*Lab, error) {
	topo, err := cloneTopology(t)
	if err != nil {
		return nil, err
	}
	if err := topo.Validate(); err != nil {
		return nil, err
	}
	if err := topo.checkKernelFor(); err != nil {
		return nil, err
	}
	for _, a := range o.Images {
		if err := CheckArchive(a); err != nil {
			return nil, fmt.Errorf("lab: images: %s: want a `docker save` archive: %w", a, err)
		}
	}
	if err := fitsMachine(topo); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	if err := o.checkOnDemand(); err != nil {
		return nil, err
	}
	bin := ""
	if topo.hasDocker() {
		switch o.Runtime {
		case RuntimeHostd:
			bin, err = hostdProgram.find(o.Hostd, o.Binary, o.notice())
		case RuntimeDockerd:
			bin, err = FindDockerd(o.Dockerd)
		default:
			err = fmt.Errorf("lab: runtime %q: want %s or %s", o.Runtime, RuntimeHostd, RuntimeDockerd)
		}
		if err != nil {
			return nil, err
		}
	}
	etcdBin := ""
	if topo.hasEtcd() {
		if etcdBin, err = etcdProgram.find(o.Etcd, o.Binary, o.notice()); err != nil {
			return nil, err
		}
	}
	var ovs ovsPrograms
	if topo.hasOVS() {
		if ovs, err = FindOVS(); err != nil {
			return nil, err
		}
	}
	t0 := time.Now()
	l, err := create(topo, o, etcdBin)
	if err != nil {
		return nil, err
	}
	switch o.Runtime {
	case RuntimeDockerd:
		l.state.Dockerd = bin
	case RuntimeHostd:
		l.state.Hostd = bin
	}
	o.timings.since("up: state directory", t0)
	l.ovs = ovs
	if err := l.build(ctx, o, bin); err != nil {
		// A fresh context: the caller's may be what ran out.
		tctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if derr := l.Down(tctx); derr != nil {
			return nil, fmt.Errorf("lab %s: %w (and removing it: %v)", l.ID(), err, derr)
		}
		return nil, fmt.Errorf("lab %s: %w", l.ID(), err)
	}
	return l, nil
}

// notice is where Up says that it built a program: Progress, or stderr
// when nobody reads Progress.
func (o Options) notice() io.Writer {
	if o.Progress == io.Discard {
		return os.Stderr
	}
	return o.Progress
}

func (o Options) withDefaults() Options {
	o.Root = stateRoot(o.Root)
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Runtime == "" {
		o.Runtime = RuntimeHostd
	}
	if o.ImageStore == "" {
		o.ImageStore = image.StoreDir()
	}
	if o.DataRoot == "" {
		o.DataRoot = DefaultDataRoot
	}
	return o
}

// hostWorkers is how many hosts are built at once.
func (o Options) hostWorkers() int {
	if o.Parallel > 0 {
		return o.Parallel
	}
	return runtime.NumCPU()
}

// daemonWorkers is how many daemons are started, waited for or given their
// containers at once.
func (o Options) daemonWorkers() int {
	if o.Parallel > 0 {
		return o.Parallel
	}
	return runtime.NumCPU() * 4
}

// create reserves the lab id and writes lab.json before anything else
// exists, so that a lab whose owner dies at any later point is found by GC.
func create(topo *Topology, o Options, etcdBin string) (*Lab, error) {
	if err := os.MkdirAll(o.Root, 0o755); err != nil {
		return nil, fmt.Errorf("state root: %w", err)
	}
	id := o.ID
	for try := 0; ; try++ {
		if id == "" {
			id = randomID()
		}
		if !idRE.MatchString(id) {
			return nil, fmt.Errorf("lab id %q: want ^[a-z][a-z0-9]{2,9}$", id)
		}
		err := reserve(o.Root, o.DataRoot, id)
		if err == nil {
			break
		}
		if o.ID != "" || try == 10 {
			return nil, err
		}
		id = ""
	}
	start, _ := procStart(os.Getpid())
	l := &Lab{
		root:    o.Root,
		dir:     filepath.Join(o.Root, id),
		topo:    topo,
		timings: o.timings,
		state: &labState{
			ID: id, Name: topo.Name, File: topo.File, Topology: topo,
			Owner: os.Getpid(), OwnerStart: start,
			Created: time.Now().UTC(), State: StateStarting,
			Runtime: o.Runtime, EtcdBinary: etcdBin, OnDemand: o.OnDemand,
			DataDir: dataDir(o.DataRoot, id),
		},
	}
	err := writeState(l.dir, l.state)
	if err == nil {
		err = writeStoreMarker(l.state.DataDir, o.ImageStore)
	}
	if err != nil {
		removeStateDir(l.dir)
		removeDataDir(l.state.DataDir)
		return nil, fmt.Errorf("lab %s: %w", id, err)
	}
	l.makeHosts()
	return l, nil
}

// A lab's state directory is a tmpfs of its own, as /run is on most
// machines: the lab's small files (lab.json, the namespace pins, each
// host's resolv.conf, its daemon's configuration, socket and log, the etcd
// members' data) are made by the thousand at up, and on a disk each create
// may wait on the filesystem's journal: 0.5-1 ms a file on an ext4 that
// other work writes to, against 10-20 µs on tmpfs. Nothing there outlives
// the lab's namespaces. The mount is private, so it is also where a mount
// namespace's pin may go; down unmounts it.
//
// The lab's data directory (the hosts' image tags, their containers'
// writable layers, volumes) is a tmpfs of its own too, for the same
// reason: every container's start makes its layer's directories and
// overlayfs's work directory, and down drops a thousand containers' files
// with one unmount where a disk would be walked and journaled file by
// file. Nothing there outlives the lab either (the images themselves stay
// in the machine's store, on disk); what the containers write is held in
// memory, up to the tmpfs's default size, half of it.

// removeStateDir unmounts the lab's state directory and removes it.
func removeStateDir(dir string) {
	unix.Unmount(dir, unix.MNT_DETACH)
	os.RemoveAll(dir)
}

// reserve claims an id: its state directory and its data directory are
// made exclusively, each with a tmpfs of its own mounted on it, and no namespace pin may carry the id already (left
// over by a crash of a lab whose state directory went away).
func reserve(root, dataRoot, id string) error {
	if pins, _ := labPins(id); len(pins) > 0 {
		return fmt.Errorf("lab id %s is in use: %s exists (try `nslab gc`)", id, pins[0])
	}
	dir := filepath.Join(root, id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("lab id %s is in use: %s exists", id, dir)
		}
		return fmt.Errorf("lab %s: state dir: %w", id, err)
	}
	if err := netns.MountPrivateTmpfs(dir, 0o755); err != nil {
		os.Remove(dir)
		return fmt.Errorf("lab %s: state dir: %w", id, err)
	}
	data := dataDir(dataRoot, id)
	err := os.MkdirAll(dataRoot, 0o755)
	if err == nil {
		err = os.Mkdir(data, 0o700)
	}
	if err != nil {
		removeStateDir(dir)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("lab id %s is in use: %s exists (a lab of another state root, or left behind: remove it)", id, data)
		}
		return fmt.Errorf("lab %s: data dir: %w", id, err)
	}
	// Closed to other users, as the directory was.
	if err := netns.MountPrivateTmpfs(data, 0o700); err != nil {
		os.Remove(data)
		removeStateDir(dir)
		return fmt.Errorf("lab %s: data dir: %w", id, err)
	}
	return nil
}

func randomID() string {
	b := make([]byte, 2)
	rand.Read(b)
	return "nsl" + hex.EncodeToString(b)
}

func (l *Lab) makeHosts() {
	l.named = map[string]*Host{}
	l.hosts = make([]*Host, len(l.topo.Hosts))
	for i, spec := range l.topo.Hosts {
		h := &Host{Name: spec.Name, Spec: spec, lab: l, index: i}
		if spec.Kind == KindDocker {
			h.dir = filepath.Join(l.dir, spec.Name)
			h.socket = filepath.Join(h.dir, "docker.sock")
		}
		l.hosts[i] = h
		l.named[spec.Name] = h
	}
}

// build makes the fabric and the hosts, then starts the daemons and the
// topology's containers.
func (l *Lab) build(ctx context.Context, o Options, bin string) error {
	t0 := time.Now()
	if err := l.makeNSDir(); err != nil {
		return err
	}
	f, err := newFabric(ctx, l.ID(), l.topo)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Progress, "fabric: %d segments\n", len(l.topo.Segments))
	l.timings.since("up: fabric", t0)
	t1 := time.Now()
	if err := l.buildHosts(ctx, f, o); err != nil {
		return err
	}
	l.timings.since("up: hosts", t1)
	if err := l.applyImpairments(ctx); err != nil {
		return err
	}
	if l.topo.hasOVS() {
		if err := l.startOVSAll(ctx, l.ovs, o); err != nil {
			return err
		}
	}
	// The cluster store answers before any daemon pointed at it starts.
	if l.state.EtcdBinary != "" {
		if err := l.startEtcdCluster(ctx, l.state.EtcdBinary, o); err != nil {
			return err
		}
	}
	if bin != "" {
		start := l.startDaemons
		if o.Runtime == RuntimeDockerd {
			start = l.startDockerds
		} else {
			imgs, release, err := l.storeImages(o)
			if err != nil {
				return err
			}
			// Until every hostd has its repository, which names what it
			// needs of the store: `nslab images clean` waits.
			defer release()
			for _, img := range imgs {
				l.images = append(l.images, hostdconfig.Image{ID: img.ID, Tags: img.Tags})
			}
		}
		if err := start(ctx, bin, o); err != nil {
			return err
		}
		t2 := time.Now()
		if err := l.createContainers(ctx, o); err != nil {
			return err
		}
		l.timings.since("up: containers", t2)
	}
	if o.Resettable {
		if err := l.takeBaseline(ctx); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state.State = StateUp
	if err := writeState(l.dir, l.state); err != nil {
		return err
	}
	fmt.Fprintf(o.Progress, "lab %s up: %d hosts in %s\n", l.ID(), len(l.hosts), time.Since(t0).Round(time.Millisecond))
	return nil
}

// Open attaches to a lab from its state directory under root ("" for
// DefaultRoot): what another process built can be inspected, exec'd into
// and taken down.
func Open(root, id string) (*Lab, error) {
	root = stateRoot(root)
	if !idRE.MatchString(id) {
		return nil, fmt.Errorf("lab id %q: want ^[a-z][a-z0-9]{2,9}$", id)
	}
	dir := filepath.Join(root, id)
	s, err := readState(dir)
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", id, err)
	}
	if s.ID != id || s.Topology == nil {
		return nil, fmt.Errorf("lab %s: %s does not describe this lab", id, filepath.Join(dir, stateFile))
	}
	l := &Lab{root: root, dir: dir, topo: s.Topology, state: s}
	l.makeHosts()
	for _, h := range l.hosts {
		h.pid = s.HostdPIDs[h.Name]
	}
	return l, nil
}

// Down removes everything of the lab: daemons and their containers, every
// process left in its namespaces, every namespace pin and the state
// directory. It can be repeated, and works from a process that only opened
// the lab.
func (l *Lab) Down(ctx context.Context) error {
	l.disarm()
	l.mu.Lock()
	pids := map[string]int{}
	for _, h := range l.hosts {
		if pid := h.hostdPID(); pid > 0 {
			pids[h.Name] = pid
		}
	}
	l.mu.Unlock()
	if l.Runtime() == RuntimeDockerd {
		// dockerd stops its containers with their stop timeout first;
		// removing them with force is immediate. What the API cannot
		// remove (a daemon that hangs or is gone), teardown kills.
		l.removeContainers(ctx)
	}
	return teardown(ctx, l.dir, l.state.DataDir, l.ID(), pids, l.Runtime() == RuntimeDockerd, l.timings)
}

// Runtime returns the daemon the lab's docker hosts run: RuntimeHostd or
// RuntimeDockerd.
func (l *Lab) Runtime() string {
	if l.state.Runtime == "" {
		return RuntimeHostd // lab.json written before runtimes existed
	}
	return l.state.Runtime
}

func (t *Topology) hasDocker() bool {
	for _, h := range t.Hosts {
		if h.Kind == KindDocker || h.Kind == "" {
			return true
		}
	}
	return false
}

// cloneTopology copies t so that the lab never shares it with the caller.
func cloneTopology(t *Topology) (*Topology, error) {
	if t == nil {
		return nil, errors.New("lab: no topology")
	}
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	var c Topology
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	return &c, nil
}

// labPins lists the /run/netns pins of lab id: fabric, hosts, containers
// and whatever else was made inside the lab under its prefix.
func labPins(id string) ([]string, error) {
	names, err := kernel.Pins(id + "-")
	for i, n := range names {
		names[i] = netns.Path(n)
	}
	return names, err
}
