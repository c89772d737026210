package hostd

import (
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/host"
	"github.com/nslab/nslab/netimpl/null"
)

// Daemon is one virtual host's container runtime and network engine.
type Daemon struct {
	cfg      Config
	eng      *netimpl.Engine
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
func NewDaemon(cfg Config, logger *log.Logger) (*Daemon, error) {
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
	rp, err := newReaper()
	if err != nil {
		return nil, fmt.Errorf("hostd %s: %w", cfg.Host, err)
	}
	reg, err := netimpl.NewRegistry(null.New(), host.New())
	if err != nil {
		return nil, fmt.Errorf("hostd %s: %w", cfg.Host, err)
	}
	eng, err := netimpl.New(netimpl.Options{
		Registry: reg,
		Seed:     cfg.Lab + "/" + cfg.Host,
		Predefined: []netimpl.NetworkSpec{
			{Name: "host", Driver: host.Name},
			{Name: "none", Driver: null.Name},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("hostd %s: network engine: %w", cfg.Host, err)
	}
	d := &Daemon{
		cfg:        cfg,
		eng:        eng,
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
			return nil, fmt.Errorf("hostd %s: busybox applets: %w", cfg.Host, err)
		}
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
	errs = append(errs, d.eng.Close())
	for _, dir := range []string{"containers", "busybox"} {
		if err := os.RemoveAll(filepath.Join(d.cfg.Root, dir)); err != nil {
			errs = append(errs, err)
		}
	}
	// Whatever a container left behind was killed; collect it.
	d.reaper.drain(5 * time.Second)
	return errors.Join(errs...)
}
