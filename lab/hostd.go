package lab

import (
	"bufio"
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
)

// hostdTimeout bounds how long a hostd may take to answer /_ping. A
// variable, so that a test can make a hung hostd's wait short.
var hostdTimeout = 30 * time.Second

// A unix socket path must fit sockaddr_un.sun_path (108 bytes with NUL).
const maxSocketPath = 107

// startDaemons starts hostd (bin, the nslab-hostd program) on every docker
// host, all at once, and waits until each answers on its socket.
func (l *Lab) startDaemons(ctx context.Context, bin string, o Options) error {
	var docker, later []*Host
	for _, h := range l.hosts {
		switch {
		case o.OnDemand && h.Spec.startsOnDemand():
			later = append(later, h)
		case h.Spec.Kind == KindDocker:
			docker = append(docker, h)
		}
	}
	if err := forEach(ctx, later, o.daemonWorkers(), func(_ context.Context, h *Host) error { return h.armHostd(bin, o) }); err != nil {
		return err
	}
	t0 := time.Now()
	err := forEach(ctx, docker, o.daemonWorkers(), func(_ context.Context, h *Host) error { return h.startHostd(bin, o) })
	if err != nil {
		return err
	}
	l.timings.since("up: hostd exec", t0)
	t0 = time.Now()
	// Record the pids at once: a Down from another process then kills
	// each hostd before it scans for what else runs in the lab.
	if err := l.recordDaemonPIDs(docker); err != nil {
		return err
	}
	p := newProgress(o.Progress, "hostd", len(docker))
	defer l.timings.since("up: hostd ready (after the last exec)", t0)
	return forEach(ctx, docker, o.daemonWorkers(), func(ctx context.Context, h *Host) error {
		if err := h.waitReady(ctx); err != nil {
			return err
		}
		p.done()
		return nil
	})
}

// startHostd writes the host's hostd.json and starts hostd inside the
// host's namespaces (hostns.go), in its own session so that a terminal's
// signals do not reach it. hostd serves the lab's socket in the state
// directory and, inside the host, the topology's api: /var/run/docker.sock
// and TCP. It pins its containers' namespaces under Docker's names in the
// host's /var/run/docker/netns, and as <lab>-<host>-<container> in the
// machine's /run/netns, through the machine's mount namespace handed to it.
func (h *Host) startHostd(bin string, o Options) error {
	if _, err := h.writeHostdConfig(o); err != nil {
		return err
	}
	return h.launchHostd(bin, nil)
}

// writeHostdConfig writes the host's hostd.json and returns it.
func (h *Host) writeHostdConfig(o Options) (hostdconfig.Config, error) {
	if len(h.socket) > maxSocketPath {
		return hostdconfig.Config{}, fmt.Errorf("host %s: socket path %s is %d bytes; a unix socket path has at most %d (use a shorter state root)", h.Name, h.socket, len(h.socket), maxSocketPath)
	}
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		return hostdconfig.Config{}, fmt.Errorf("host %s: %w", h.Name, err)
	}
	cfg, err := h.hostdConfig(o)
	if err != nil {
		return cfg, err
	}
	if err := cfg.Write(h.configPath()); err != nil {
		return cfg, fmt.Errorf("host %s: %w", h.Name, err)
	}
	return cfg, nil
}

func (h *Host) configPath() string { return filepath.Join(h.dir, "hostd.json") }

// launchHostd starts hostd with the host's hostd.json (startHostd wrote
// it) inside the host's namespaces (hostns.go), in its own session so that
// a terminal's signals do not reach it. lns, when there are any, are the
// API's listening sockets in hostdconfig.Listen's order, opened for a
// start on demand: hostd serves them instead of opening its own.
func (h *Host) launchHostd(bin string, lns []*os.File) error {
	logf, err := os.OpenFile(h.logPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	defer logf.Close()
	// hostd writes "ready" on this pipe once its socket listens (waitReady).
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	// The machine's mount namespace, where hostd makes its /run/netns pins:
	// /proc/self names this process, whose main thread never switches.
	machine, err := os.Open("/proc/self/ns/mnt")
	if err != nil {
		readyR.Close()
		readyW.Close()
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	defer machine.Close()
	cmd := exec.Command(bin, "--config", h.configPath(), "--ready-fd", "3", "--pins-mntns-fd", "4")
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{readyW, machine} // fds 3 and 4
	if len(lns) > 0 {
		fds := make([]int, len(lns))
		for i := range lns {
			fds[i] = 3 + len(cmd.ExtraFiles) + i
		}
		cmd.ExtraFiles = append(cmd.ExtraFiles, lns...)
		cmd.Args = append(cmd.Args, "--"+hostdconfig.ListenFDsFlag, hostdconfig.FormatFDs(fds))
	}
	// No Pdeathsig: the thread that forks dies at once (Namespaces.Start),
	// and the lab outlives this process when the CLI hands it to its keeper.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = h.Namespaces().Start(cmd)
	readyW.Close()
	if err != nil {
		readyR.Close()
		return fmt.Errorf("host %s: start hostd: %w", h.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	h.lab.mu.Lock()
	h.pid, h.exited, h.ready = cmd.Process.Pid, exited, readyR
	h.lab.mu.Unlock()
	return nil
}

// hostdConfig is what the lab tells the host's hostd: the topology's
// fields for the host as dockerd's flags would give them.
func (h *Host) hostdConfig(o Options) (hostdconfig.Config, error) {
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
		Hosts:            h.Spec.API,
		ExecRoot:         hostExecRoot,
	}
	for _, a := range h.Spec.DNS {
		cfg.DNS = append(cfg.DNS, a.String())
	}
	if h.Spec.Bridge.IsValid() {
		// A topology built in code skips the file's checks: refuse a bad
		// --bip here rather than in a hostd that fails to start.
		if _, err := hostdconfig.ParseBIP(h.Spec.Bridge.String()); err != nil {
			return cfg, fmt.Errorf("host %s: bridge: %w", h.Name, err)
		}
		cfg.DefaultBridge = h.Spec.Bridge.String()
	}
	return cfg, nil
}

func (h *Host) logPath() string { return filepath.Join(h.stateDir(), "hostd.log") }

// hostExecRoot is dockerd's --exec-root inside a host, its default: the
// host's own /var/run/docker, whose netns/ holds the sandboxes' pins.
const hostExecRoot = "/var/run/docker"

// waitReady waits until hostd says on its ready pipe that its socket
// listens, the deadline passes or hostd exits (which closes the pipe).
func (h *Host) waitReady(ctx context.Context) error {
	h.lab.mu.Lock()
	r := h.ready
	h.ready = nil
	h.lab.mu.Unlock()
	if r == nil {
		return fmt.Errorf("host %s: hostd was not started by this process", h.Name)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(ctx, hostdTimeout)
	defer cancel()
	// The deadline wakes the read.
	stop := context.AfterFunc(ctx, func() { r.SetReadDeadline(time.Now()) })
	defer stop()
	line, err := bufio.NewReader(r).ReadString('\n')
	switch {
	case line == "ready\n":
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("host %s: hostd did not listen on %s in time (%v); last lines of %s:\n%s", h.Name, h.socket, ctx.Err(), h.logPath(), Tail(h.logPath(), 20))
	}
	return fmt.Errorf("host %s: hostd exited before listening on %s (ready pipe: %q, %v); last lines of %s:\n%s", h.Name, h.socket, line, err, h.logPath(), Tail(h.logPath(), 20))
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
	return forEach(ctx, with, o.daemonWorkers(), func(ctx context.Context, h *Host) error {
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
