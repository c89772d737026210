package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/nslab/nslab/hostdconfig"
	"github.com/nslab/nslab/netns"
)

// hostdTimeout bounds how long a hostd may take to answer /_ping.
const hostdTimeout = 30 * time.Second

// A unix socket path must fit sockaddr_un.sun_path (108 bytes with NUL).
const maxSocketPath = 107

// startDaemons starts hostd (bin, the nslab-hostd program) on every docker
// host, all at once, and waits until each answers on its socket.
func (l *Lab) startDaemons(ctx context.Context, bin string, o Options) error {
	var docker []*Host
	for _, h := range l.hosts {
		if h.Spec.Kind == KindDocker {
			docker = append(docker, h)
		}
	}
	err := forEach(ctx, docker, o.Parallel, func(_ context.Context, h *Host) error { return h.startHostd(bin, o) })
	if err != nil {
		return err
	}
	// Record the pids at once: a Down from another process then stops each
	// hostd with SIGTERM, so that it removes its containers itself.
	l.mu.Lock()
	l.state.HostdPIDs = map[string]int{}
	for _, h := range docker {
		l.state.HostdPIDs[h.Name] = h.pid
	}
	err = writeState(l.dir, l.state)
	l.mu.Unlock()
	if err != nil {
		return err
	}
	p := newProgress(o.Progress, "hostd", len(docker))
	return forEach(ctx, docker, o.Parallel, func(ctx context.Context, h *Host) error {
		if err := h.waitReady(ctx); err != nil {
			return err
		}
		p.done()
		return nil
	})
}

// startHostd writes the host's hostd.json and starts hostd inside the
// host's network namespace and a new UTS namespace, in its own session so
// that a terminal's signals do not reach it.
func (h *Host) startHostd(bin string, o Options) error {
	if len(h.socket) > maxSocketPath {
		return fmt.Errorf("host %s: socket path %s is %d bytes; a unix socket path has at most %d (use a shorter state root)", h.Name, h.socket, len(h.socket), maxSocketPath)
	}
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	cfg := hostdconfig.Config{
		Lab:         h.lab.ID(),
		Host:        h.Name,
		Root:        h.dir,
		DataRoot:    filepath.Join(h.lab.state.DataDir, h.Name),
		ImageStore:  o.ImageStore,
		Images:      h.lab.images,
		Socket:      h.socket,
		NetNSPrefix: h.lab.ID() + "-" + h.Name + "-",
		Firewall:    h.Spec.Firewall,
		// userland_proxy: false in the topology.
		NoUserlandProxy: h.Spec.NoUserlandProxy,
		NoICC:           h.Spec.NoICC,
		// cluster_store and cluster_advertise: dockerd's --cluster-store
		// and --cluster-advertise.
		ClusterStore:     h.Spec.ClusterStore,
		ClusterAdvertise: h.Spec.ClusterAdvertise,
	}
	for _, a := range h.Spec.DNS {
		cfg.DNS = append(cfg.DNS, a.String())
	}
	if h.Spec.Bridge.IsValid() {
		// A topology built in code skips the file's checks: refuse a bad
		// --bip here rather than in a hostd that fails to start.
		if _, err := hostdconfig.ParseBIP(h.Spec.Bridge.String()); err != nil {
			return fmt.Errorf("host %s: bridge: %w", h.Name, err)
		}
		cfg.DefaultBridge = h.Spec.Bridge.String()
	}
	if err := cfg.Write(h.configPath()); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	return h.launchHostd(bin)
}

func (h *Host) configPath() string { return filepath.Join(h.dir, "hostd.json") }

// launchHostd starts hostd with the host's hostd.json (startHostd wrote
// it) inside the host's network namespace and a new UTS namespace, in its
// own session so that a terminal's signals do not reach it.
func (h *Host) launchHostd(bin string) error {
	logf, err := os.OpenFile(h.logPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--config", h.configPath())
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	// No Pdeathsig: the thread that forks dies at once (netns.StartIn), and
	// the lab outlives this process when the CLI hands it to its keeper.
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS, Setsid: true}
	if err := netns.StartIn(h.NetNS(), cmd); err != nil {
		return fmt.Errorf("host %s: start hostd: %w", h.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	h.lab.mu.Lock()
	h.pid, h.exited = cmd.Process.Pid, exited
	h.lab.mu.Unlock()
	return nil
}

func (h *Host) logPath() string { return filepath.Join(h.dir, "hostd.log") }

// waitReady polls /_ping on the host's socket until hostd answers, the
// deadline passes or hostd exits.
func (h *Host) waitReady(ctx context.Context) error {
	return h.waitPing(ctx, daemonWait{
		daemon: "hostd", log: h.logPath(), timeout: hostdTimeout, every: 20 * time.Millisecond,
		before: "answering on " + h.socket, to: "answer /_ping on " + h.socket,
	})
}

// waitPing polls /_ping on the host's socket as w says.
func (h *Host) waitPing(ctx context.Context, w daemonWait) error {
	c, err := dockerClient(h.socket)
	if err != nil {
		return err
	}
	defer c.Close()
	return h.waitFor(ctx, w, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := c.Ping(ctx, client.PingOptions{})
		return err
	})
}

// daemonWait says how waitFor waits for a host's daemon, and what its
// errors say: "<daemon> exited before <before>", "<daemon> did not <to>
// in time", with the last lines of its log.
type daemonWait struct {
	daemon, log string
	timeout     time.Duration
	every       time.Duration
	before, to  string
}

// waitFor polls ready until it succeeds, the host's daemon exits or the
// deadline passes.
func (h *Host) waitFor(ctx context.Context, w daemonWait, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	h.lab.mu.Lock()
	exited := h.exited
	h.lab.mu.Unlock()
	tick := time.NewTicker(w.every)
	defer tick.Stop()
	var last error
	for {
		if last = ready(ctx); last == nil {
			return nil
		}
		select {
		case <-exited:
			// It may have answered and then exited: say what the log says.
			return fmt.Errorf("host %s: %s exited before %s; last lines of %s:\n%s", h.Name, w.daemon, w.before, w.log, Tail(w.log, 20))
		case <-ctx.Done():
			return fmt.Errorf("host %s: %s did not %s in time (%v); last lines of %s:\n%s", h.Name, w.daemon, w.to, last, w.log, Tail(w.log, 20))
		case <-tick.C:
		}
	}
}

// Tail returns the last n lines of a file, or why it cannot.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return "(empty)"
	}
	ls := strings.Split(s, "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// createContainers creates and starts the topology's containers through
// each host's Docker API, hosts in parallel, each host's containers in an
// order where container:NAME comes after NAME.
func (l *Lab) createContainers(ctx context.Context, o Options) error {
	var with []*Host
	for _, h := range l.hosts {
		if len(h.Spec.Containers) > 0 {
			with = append(with, h)
		}
	}
	return forEach(ctx, with, o.Parallel, func(ctx context.Context, h *Host) error {
		c, err := dockerClient(h.socket)
		if err != nil {
			return err
		}
		defer c.Close()
		for _, ct := range containerOrder(h.Spec.Containers) {
			if err := createContainer(ctx, c, ct); err != nil {
				return fmt.Errorf("host %s: container %s: %w", h.Name, ct.Name, err)
			}
		}
		fmt.Fprintf(o.Progress, "containers %s: %d\n", h.Name, len(h.Spec.Containers))
		return nil
	})
}

func containerOrder(cs []ContainerSpec) []ContainerSpec {
	index := map[string]int{}
	for i, c := range cs {
		index[c.Name] = i
	}
	done := make([]bool, len(cs))
	var out []ContainerSpec
	var visit func(i, depth int)
	visit = func(i, depth int) {
		if done[i] || depth > len(cs) {
			return
		}
		if target, ok := strings.CutPrefix(cs[i].Network, "container:"); ok {
			if j, ok := index[target]; ok {
				visit(j, depth+1)
			}
		}
		if !done[i] {
			done[i] = true
			out = append(out, cs[i])
		}
	}
	for i := range cs {
		visit(i, 0)
	}
	return out
}

// createContainer is `docker run -itd` over the Engine API: create, then start.
func createContainer(ctx context.Context, c *client.Client, ct ContainerSpec) error {
	created, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       ct.Name,
		Config:     &container.Config{Image: ct.Image, Cmd: ct.Command, Tty: false, OpenStdin: true},
		HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode(ct.Network)},
	})
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if created.ID == "" {
		return errors.New("create: the daemon returned no id")
	}
	if _, err := c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	return nil
}

// forEach runs fn for every host with at most n at once; the first error
// cancels the rest and is returned.
func forEach(ctx context.Context, hosts []*Host, n int, fn func(context.Context, *Host) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, max(1, n))
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, h := range hosts {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, h); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
