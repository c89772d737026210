package hostd

import (
	"errors"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nslab/nslab/hostd/image"
	"github.com/nslab/nslab/hostdconfig"
	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/bridge"
	"github.com/nslab/nslab/netimpl/firewall"
	"github.com/nslab/nslab/netimpl/host"
	"github.com/nslab/nslab/netimpl/macvlan"
	"github.com/nslab/nslab/netimpl/null"
	"github.com/nslab/nslab/netns"
)

// hostNS is hostd's own network namespace, the virtual host's: the
// namespace of the main thread, which never switches (package netns).
const hostNS = "/proc/self/ns/net"

// Daemon is one virtual host's container runtime and network engine.
type Daemon struct {
	cfg    hostdconfig.Config
	eng    *netimpl.Engine
	bridge *bridge.Driver
	// macvlan is the macvlan driver (docker network create -d macvlan).
	macvlan *macvlan.Driver
	// gre holds the gretap tunnels made through /nslab/gre.
	gre greTunnels
	// mounts is the template of every container's mount namespace.
	mounts *mountTemplate
	// firewall writes Docker's rules in the host's namespace; they stay
	// when hostd exits, as dockerd leaves its own.
	firewall firewall.Backend
	// cluster is the cluster store and overlay driver (nil without
	// --cluster-store).
	cluster *cluster
	// store is the machine's image store; images are this host's images
	// and tags.
	store  *image.Store
	images *image.Repository
	// svc holds the embedded resolvers, published ports and links.
	svc      netServices
	reaper   *reaper
	hostname string
	nsenter  string
	// appletDir holds busybox symlinks, see makeAppletDir.
	appletDir   string
	appletsOnce sync.Once
	applets     map[string]bool
	started     time.Time
	log         *log.Logger

	mu         sync.Mutex
	containers map[string]*Container
	names      map[string]string
	execs      map[string]*execInstance
	closing    bool
}

// NewDaemon prepares the state directory, the reaper and the network engine
// with its predefined networks.
//
// pins is where the /run/netns pins of containers and overlay networks go
// (the machine's mount namespace when hostd runs in a virtual host's own);
// with cfg.ExecRoot, each is also pinned under Docker's name in
// <ExecRoot>/netns, the sandbox key hostd itself works through.
func NewDaemon(cfg hostdconfig.Config, pins *netns.Pins, logger *log.Logger) (*Daemon, error) {
	// The bridge driver acts in the namespace hostd runs in: never let
	// that be the machine's own.
	if err := checkNamespaces(); err != nil {
		return nil, err
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return nil, fmt.Errorf("hostd %s: docker exec needs nsenter (util-linux): %w", cfg.Host, err)
	}
	hostname, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("hostd %s: %w", cfg.Host, err)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Root, "containers"), 0o755); err != nil {
		return nil, fmt.Errorf("hostd %s: state dir: %w", cfg.Host, err)
	}
	defaultBridge, err := defaultBridgeSpec(cfg.DefaultBridge)
	if err != nil {
		return nil, fmt.Errorf("hostd %s: %w", cfg.Host, err)
	}
	if cfg.NoICC {
		// dockerd --icc=false: docker0 without inter-container traffic.
		defaultBridge.Options[bridge.OptICC] = "false"
	}
	var nameservers []netip.Addr
	for _, s := range cfg.DNS {
		if a, err := netip.ParseAddr(s); err == nil {
			nameservers = append(nameservers, a)
		}
	}
	rp, err := newReaper()
	if err != nil {
		return nil, fmt.Errorf("hostd %s: %w", cfg.Host, err)
	}
	cfg.FillDefaults()
	if cfg.ImageStore == "" {
		cfg.ImageStore = image.StoreDir()
	}
	store, images, err := openImages(cfg, rp)
	if err != nil {
		return nil, fmt.Errorf("hostd %s: images: %w", cfg.Host, err)
	}
	mounts, err := newMountTemplate()
	if err != nil {
		return nil, fmt.Errorf("hostd %s: %w", cfg.Host, err)
	}
	// The firewall binds to the calling thread's namespace: this thread
	// is hostd's, in the virtual host's namespace.
	// New runs `iptables --version`: the reaper must leave it alone too.
	rp.beginForeign()
	backend, err := firewall.NewWithOptions(cfg.Firewall, firewall.Options{Hairpin: cfg.NoUserlandProxy})
	rp.endForeign()
	if err != nil {
		mounts.close()
		return nil, fmt.Errorf("hostd %s: %w", cfg.Host, err)
	}
	fw := reapGuard{Backend: backend, r: rp}
	fp := noteForwardPolicy(rp, cfg.Firewall)
	if err := fw.Setup(); err != nil {
		fw.Close()
		mounts.close()
		return nil, fmt.Errorf("hostd %s: firewall %s: %w", cfg.Host, fw.Name(), err)
	}
	if err := fp.restore(fw); err != nil {
		fw.Close()
		mounts.close()
		return nil, fmt.Errorf("hostd %s: %w", cfg.Host, err)
	}
	br, err := bridge.New(bridge.Config{HostNS: hostNS, Firewall: fw})
	if err != nil {
		fw.Close()
		mounts.close()
		return nil, fmt.Errorf("hostd %s: %w", cfg.Host, err)
	}
	mv, err := macvlan.New(macvlan.Config{HostNS: hostNS})
	if err != nil {
		br.Close()
		fw.Close()
		mounts.close()
		return nil, fmt.Errorf("hostd %s: %w", cfg.Host, err)
	}
	closeNet := func() {
		mv.Close()
		br.Close()
		fw.Close()
		mounts.close()
	}
	drivers := []netimpl.Driver{br, mv, null.New(), host.New()}
	var cl *cluster
	if cfg.ClusterStore != "" {
		if cl, err = newCluster(cfg, pins); err != nil {
			closeNet()
			return nil, fmt.Errorf("hostd %s: %w", cfg.Host, err)
		}
		drivers = append(drivers, cl.driver)
		closeNet = func() {
			cl.store.Close()
			cl.driver.Close()
			mv.Close()
			br.Close()
			fw.Close()
			mounts.close()
		}
	}
	reg, err := netimpl.NewRegistry(drivers...)
	if err != nil {
		closeNet()
		return nil, fmt.Errorf("hostd %s: %w", cfg.Host, err)
	}
	eng, err := netimpl.New(netimpl.Options{
		Registry:    reg,
		Seed:        cfg.Lab + "/" + cfg.Host,
		HostNS:      hostNS,
		Nameservers: nameservers,
		// Namespaces made ahead of time keep the kernel's costliest step
		// off a container's start.
		PrewarmSandboxes: 8,
		Pins:             pins,
		SandboxDir:       sandboxDir(cfg),
		Predefined: []netimpl.NetworkSpec{
			defaultBridge,
			{Name: "host", Driver: host.Name},
			{Name: "none", Driver: null.Name},
		},
	})
	if err != nil {
		closeNet()
		return nil, fmt.Errorf("hostd %s: network engine: %w", cfg.Host, err)
	}
	d := &Daemon{
		cfg:        cfg,
		eng:        eng,
		bridge:     br,
		macvlan:    mv,
		cluster:    cl,
		mounts:     mounts,
		store:      store,
		images:     images,
		firewall:   fw,
		reaper:     rp,
		hostname:   hostname,
		nsenter:    nsenter,
		started:    time.Now(),
		log:        logger,
		containers: map[string]*Container{},
		names:      map[string]string{},
		execs:      map[string]*execInstance{},
	}
	if _, err := os.Stat(busyboxPath); err == nil {
		if err := d.makeAppletDir(); err != nil {
			eng.Close()
			closeNet()
			return nil, fmt.Errorf("hostd %s: busybox applets: %w", cfg.Host, err)
		}
	}
	if cl != nil {
		d.startCluster()
	}
	return d, nil
}

// sandboxDir is dockerd's <exec-root>/netns, or "" without an exec root.
func sandboxDir(cfg hostdconfig.Config) string {
	if cfg.ExecRoot == "" {
		return ""
	}
	return filepath.Join(cfg.ExecRoot, "netns")
}

// defaultBridgeSpec is the default network as dockerd makes it: docker0
// with Docker's options, on the --bip subnet when one is given (shown in
// inspect as subnet and gateway), else on the first free default pool.
func defaultBridgeSpec(bip string) (netimpl.NetworkSpec, error) {
	spec := netimpl.NetworkSpec{Name: "bridge", Driver: bridge.Name, Options: bridge.DefaultNetworkOptions()}
	if bip != "" {
		p, err := hostdconfig.ParseBIP(bip)
		if err != nil {
			return spec, fmt.Errorf("default bridge: %w", err)
		}
		spec.IPAM.Config = []netimpl.IPAMPool{{Subnet: p.Masked().String(), Gateway: p.Addr().String()}}
	}
	return spec, nil
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
					return nil, badRequest("Multiple IDs found with provided prefix: %s", ref)
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

// container is lookup with the lock taken.
func (d *Daemon) container(ref string) (*Container, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lookup(ref)
}

// Shutdown kills every container, waits for it, removes its namespace pins
// and files, and closes the network engine. It is what SIGTERM does.
func (d *Daemon) Shutdown() error {
	d.mu.Lock()
	d.closing = true
	var all []*Container
	for _, c := range d.containers {
		all = append(all, c)
	}
	d.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(all))
	for i, c := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.remove(c, true)
		}()
	}
	wg.Wait()
	d.releaseImages()
	// Tunnels first: they may be ports of bridges the engine removes.
	errs = append(errs, d.gre.closeAll())
	if d.cluster != nil && d.cluster.cancel != nil {
		// No network of the store's may come back while the engine goes.
		d.cluster.cancel()
		<-d.cluster.done
	}
	errs = append(errs, d.eng.Close())
	errs = append(errs, d.closeCluster())
	errs = append(errs, d.bridge.Close(), d.macvlan.Close(), d.firewall.Close())
	d.mounts.close()
	for _, dir := range []string{"containers", "busybox"} {
		if err := os.RemoveAll(filepath.Join(d.cfg.Root, dir)); err != nil {
			errs = append(errs, err)
		}
	}
	// Whatever a container left behind was killed; collect it.
	d.reaper.drain(5 * time.Second)
	return errors.Join(errs...)
}
