package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nslab/nslab/hostdconfig"
)

// Runtimes: the daemon that runs on each docker host of a lab.
const (
	// RuntimeHostd is nslab's own daemon (the default).
	RuntimeHostd = "hostd"
	// RuntimeDockerd is a real dockerd (Debian's docker.io, 20.10): the
	// reference that hostd is compared with.
	RuntimeDockerd = "dockerd"
)

// dockerdTimeout bounds how long a dockerd may take to answer /_ping; it
// connects to the host's containerd first.
const dockerdTimeout = 60 * time.Second

// StaticDockerDir is where `.ci/install` puts Docker 20.10.24's
// static binaries (dockerd, containerd, runc, docker-proxy, docker-init)
// on a machine whose own Docker is newer: a directory of nslab's, on no
// one's PATH, whose programs run only inside lab namespaces.
const StaticDockerDir = "/opt/nslab/docker"

// staticDockerDir is StaticDockerDir; tests point it elsewhere.
var staticDockerDir = StaticDockerDir

// DockerdVersion is the Docker Engine release line the dockerd runtime
// runs: the reference hostd is compared with, and the last line with
// classic overlay networks (--cluster-store and --cluster-advertise, gone
// in Engine 23).
const DockerdVersion = "20.10"

// DockerdVersionError is a dockerd of another release line than
// DockerdVersion.
type DockerdVersionError struct {
	Path    string
	Version string // as `dockerd --version` prints it, or why it could not be read
}

func (e *DockerdVersionError) Error() string {
	return fmt.Sprintf("%s is Docker %s; the dockerd runtime needs Docker Engine %s (classic overlay networks need --cluster-store, which Engine 23 removed)",
		e.Path, e.Version, DockerdVersion)
}

// FindDockerd returns the dockerd to start: path when given, else
// $NSLAB_DOCKERD, else the first Docker 20.10 dockerd of StaticDockerDir,
// PATH, /usr/sbin (Debian's docker.io, off a user's PATH) and /usr/bin. A
// dockerd of another version is refused, naming the version it found.
func FindDockerd(path string) (string, error) {
	if path == "" {
		path = os.Getenv("NSLAB_DOCKERD")
	}
	cands := []string{path}
	if path == "" {
		cands = dockerdCandidates()
	}
	var errs []error
	for _, p := range cands {
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
			continue
		}
		if err := checkDockerdVersion(p); err != nil {
			errs = append(errs, err)
			continue
		}
		return p, nil
	}
	if len(errs) > 0 {
		return "", fmt.Errorf("lab: %w; install Docker %s's static binaries in %s (.ci/install does) or set NSLAB_DOCKERD to a Docker %[2]s dockerd", errors.Join(errs...), DockerdVersion, StaticDockerDir)
	}
	return "", fmt.Errorf("lab: the dockerd runtime needs Docker %s's dockerd; not found at %s", DockerdVersion, strings.Join(cands, ", "))
}

// dockerdCandidates are the places FindDockerd looks, in order, without
// repeats.
func dockerdCandidates() []string {
	cands := []string{filepath.Join(staticDockerDir, "dockerd")}
	if p, err := exec.LookPath("dockerd"); err == nil {
		cands = append(cands, p)
	}
	for _, p := range []string{"/usr/sbin/dockerd", "/usr/bin/dockerd"} {
		if !slices.Contains(cands, p) {
			cands = append(cands, p)
		}
	}
	return cands
}

// dockerdVersionRE reads `dockerd --version`: "Docker version 20.10.24,
// build 5d6db84" (Docker's static binaries), "Docker version
// 20.10.24+dfsg1, build 297e128" (Debian's docker.io).
var dockerdVersionRE = regexp.MustCompile(`^Docker version ((\d+)\.(\d+)\S*),`)

// checkDockerdVersion runs `dockerd --version` (which prints and exits;
// no daemon starts) and refuses any release line but DockerdVersion.
func checkDockerdVersion(path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return &DockerdVersionError{Path: path, Version: fmt.Sprintf("unknown (dockerd --version: %v)", err)}
	}
	m := dockerdVersionRE.FindStringSubmatch(strings.TrimSpace(string(out)))
	if m == nil {
		return &DockerdVersionError{Path: path, Version: fmt.Sprintf("unknown (dockerd --version printed %q)", bytes.TrimSpace(out))}
	}
	if m[2]+"."+m[3] != DockerdVersion {
		return &DockerdVersionError{Path: path, Version: m[1]}
	}
	return nil
}

// dockerdSpec is everything one dockerd is started with, derived from the
// host's topology entry.
type dockerdSpec struct {
	Host     string
	Dir      string // <state dir>/<host>
	Socket   string
	Cgroup   string // cgroup parent, /nslab-<lab>-<host>
	Bridge   netip.Prefix
	IPTables bool
	// NoICC is --icc=false (the topology's `icc: false`).
	NoICC bool
	// NoUserlandProxy is --userland-proxy=false (`userland_proxy: false`).
	NoUserlandProxy bool
	// ClusterStore and ClusterAdvertise are dockerd's --cluster-store
	// (etcd://IP:2379) and --cluster-advertise (IP:2375) for classic
	// overlay networks; empty without a cluster store.
	ClusterStore, ClusterAdvertise string
	// API are the topology's -H inside the host (/var/run/docker.sock,
	// tcp://IP:PORT), besides Socket.
	API []string
}

func (h *Host) dockerdSpec() (dockerdSpec, error) {
	s := dockerdSpec{
		Host:     h.Name,
		Dir:      h.dir,
		Socket:   h.socket,
		Cgroup:   "/" + cgroupPrefix(h.lab.ID()) + h.Name,
		Bridge:   h.Spec.Bridge,
		IPTables: true, // Docker 20.10 has no other firewall backend
		NoICC:    h.Spec.NoICC,
		// userland_proxy: false in the topology.
		NoUserlandProxy: h.Spec.NoUserlandProxy,
		// cluster_store and cluster_advertise of the topology.
		ClusterStore:     h.Spec.ClusterStore,
		ClusterAdvertise: h.Spec.ClusterAdvertise,
		API:              h.Spec.API,
	}
	if s.Bridge.IsValid() {
		if _, err := hostdconfig.ParseBIP(s.Bridge.String()); err != nil {
			return s, fmt.Errorf("host %s: bridge: %w", h.Name, err)
		}
	}
	return s, nil
}

// cgroupPrefix names the cgroups of a lab's daemons: dockerd puts every
// container under its --cgroup-parent, and one per lab and host keeps
// them apart from a machine's own Docker (/docker) and from other labs.
func cgroupPrefix(id string) string { return "nslab-" + id + "-" }

// dataRoot is dockerd's --data-root: in the host's state directory, as the
// machine's /var/lib/docker is visible (and the machine's) inside a host.
func (s dockerdSpec) dataRoot() string   { return filepath.Join(s.Dir, "data") }
func (s dockerdSpec) pidFile() string    { return filepath.Join(s.Dir, "dockerd.pid") }
func (s dockerdSpec) configFile() string { return filepath.Join(s.Dir, "daemon.json") }
func (s dockerdSpec) logFile() string    { return filepath.Join(s.Dir, "dockerd.log") }

// args is dockerd's command line. Its exec root is its default, the host's
// own /var/run/docker: the sandboxes' pins under netns/ are then where
// seed 003 finds them. Its containerd is the one the lab started in the
// host (containerd.go).
func (s dockerdSpec) args() []string {
	a := []string{
		"--data-root", s.dataRoot(),
		"--exec-root", hostExecRoot,
		"--containerd", containerdSocket,
		"--pidfile", s.pidFile(),
		"-H", "unix://" + s.Socket,
	}
	tcp := false
	for _, h := range s.API {
		a = append(a, "-H", h)
		tcp = tcp || strings.HasPrefix(h, "tcp://")
	}
	if tcp {
		// dockerd 20.10 sleeps 15 s before it serves a TCP address without
		// TLS ("Startup is intentionally being slowed down to show this
		// message"), unless TLS is switched off explicitly; it serves the
		// same plain HTTP either way. The address is inside the lab.
		a = append(a, "--tls=false")
	}
	a = append(a,
		"--config-file", s.configFile(),
		"--storage-driver", "vfs",
		"--cgroup-parent", s.Cgroup,
		fmt.Sprintf("--iptables=%v", s.IPTables),
	)
	if s.Bridge.IsValid() {
		a = append(a, "--bip", s.Bridge.String())
	}
	if s.NoICC {
		a = append(a, "--icc=false")
	}
	if s.NoUserlandProxy {
		a = append(a, "--userland-proxy=false")
	}
	if s.ClusterStore != "" {
		a = append(a, "--cluster-store", s.ClusterStore, "--cluster-advertise", s.ClusterAdvertise)
	}
	return a
}

// config is daemon.json. dockerd 20.10 writes its identity key to
// /etc/docker/key.json unless told otherwise, and reads
// /etc/docker/daemon.json (the machine's settings) unless given a file.
func (s dockerdSpec) config() ([]byte, error) {
	return json.MarshalIndent(map[string]any{
		"deprecated-key-path": filepath.Join(s.Dir, "key.json"),
	}, "", "  ")
}

// dockerdEnv is the environment dockerd and the host's containerd get:
// their helpers (containerd, its shims, runc, docker-proxy, docker-init)
// are found on PATH, and nothing of the caller's (DOCKER_HOST, proxies)
// leaks in. TMPDIR is the host's state directory: containerd writes its
// stack dump there (containerd.<pid>.stacks.log) on SIGUSR1, and the
// machine's /tmp would keep it after down (dockerd points TMPDIR at its own
// data root once it runs).
func dockerdEnv(dockerd, tmp string) []string {
	return []string{
		"PATH=" + filepath.Dir(dockerd) + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root",
		"TMPDIR=" + tmp,
	}
}

// startDockerd writes the host's daemon files and starts the host's
// containerd, then dockerd, inside the host's namespaces (hostns.go: its
// hostname, /run, /sys and resolv.conf are the host's), each in a session
// of its own. Its mounts
// (sandbox pins, each container's /dev/shm) are made in the host's mount
// namespace and go away with it.
func (h *Host) startDockerd(dockerd string) error {
	if len(h.socket) > maxSocketPath {
		return fmt.Errorf("host %s: socket path %s is %d bytes; a unix socket path has at most %d (use a shorter state root)", h.Name, h.socket, len(h.socket), maxSocketPath)
	}
	s, err := h.dockerdSpec()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	cfg, err := s.config()
	if err != nil {
		return fmt.Errorf("host %s: daemon.json: %w", h.Name, err)
	}
	if err := os.WriteFile(s.configFile(), cfg, 0o644); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	if err := h.startContainerd(dockerd, s); err != nil {
		return err
	}
	pid, exited, err := h.startDockerdProgram(dockerd, dockerd, s.args(), s.logFile())
	if err != nil {
		return err
	}
	h.lab.mu.Lock()
	h.pid, h.exited = pid, exited
	h.lab.mu.Unlock()
	return nil
}

// startDockerds starts dockerd on every docker host at once, records their
// pids, waits until each answers, and loads the images.
//
// Daemons with a cluster store start one after another instead. A real
// dockerd joins its overlay driver's gossip (serf, TCP 7946) through a node
// it found in the store, and only once: a join that fails because that
// node's serf is not listening yet is not tried again until the store's
// node list changes. Started together, a third daemon can stay outside the
// gossip for good — no peer entries, no ping across hosts (parallel starts
// of fixtures/overlay3.yaml under load logged "joining serf neighbor ...
// failed" in 7 of 15 labs). So each daemon starts once the ones before it
// listen for the gossip, and joins through one of them.
func (l *Lab) startDockerds(ctx context.Context, dockerd string, o Options) error {
	docker := l.dockerHosts()
	if err := l.launchDockerds(ctx, dockerd, docker, newProgress(o.Progress, "dockerd", len(docker)), o.daemonWorkers()); err != nil {
		return err
	}
	return l.loadDockerdImages(ctx, docker, o)
}

// launchDockerds starts dockerd on the hosts and waits until each answers
// (and, clustered, listens for the overlay's gossip), recording their
// pids; see startDockerds.
func (l *Lab) launchDockerds(ctx context.Context, dockerd string, docker []*Host, p *progress, parallel int) error {
	started := func(ctx context.Context, h *Host) error {
		if err := h.waitDockerd(ctx); err != nil {
			return err
		}
		p.done()
		return nil
	}
	if clustered(docker) {
		for i, h := range docker {
			if err := h.startDockerd(dockerd); err != nil {
				return err
			}
			if err := l.recordDaemonPIDs(docker[:i+1]); err != nil {
				return err
			}
			if err := started(ctx, h); err != nil {
				return err
			}
			if h.Spec.ClusterStore != "" && h.Spec.ClusterAdvertise != "" {
				if err := h.waitGossip(ctx); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := forEach(ctx, docker, parallel, func(_ context.Context, h *Host) error { return h.startDockerd(dockerd) }); err != nil {
		return err
	}
	if err := l.recordDaemonPIDs(docker); err != nil {
		return err
	}
	return forEach(ctx, docker, parallel, started)
}

// clustered says whether any of the hosts has a cluster store.
func clustered(hosts []*Host) bool {
	for _, h := range hosts {
		if h.Spec.ClusterStore != "" {
			return true
		}
	}
	return false
}

// dockerHosts lists the hosts that run a daemon.
func (l *Lab) dockerHosts() []*Host {
	var out []*Host
	for _, h := range l.hosts {
		if h.Spec.Kind == KindDocker {
			out = append(out, h)
		}
	}
	return out
}

// recordDaemonPIDs writes the pids of the hosts' daemons (hostd or
// dockerd) to lab.json at once, beside those recorded already (a daemon
// started on demand meanwhile), so that a Down from another process stops
// or kills each daemon itself.
func (l *Lab) recordDaemonPIDs(hosts []*Host) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state.HostdPIDs == nil {
		l.state.HostdPIDs = map[string]int{}
	}
	for _, h := range hosts {
		if h.pid > 0 {
			l.state.HostdPIDs[h.Name] = h.pid
		}
	}
	return writeState(l.dir, l.state)
}

// waitDockerd polls /_ping until dockerd answers, it exits or the
// deadline passes; the error quotes its log.
func (h *Host) waitDockerd(ctx context.Context) error {
	return h.waitPing(ctx, h.dockerdWait("answering on "+h.socket, "answer /_ping on "+h.socket))
}

// serfPort is the TCP port of a classic overlay's gossip (serf).
const serfPort = 7946

// waitGossip waits until dockerd listens for its overlay driver's gossip:
// it starts serf once it found itself in the cluster store, some time
// after it answers /_ping.
func (h *Host) waitGossip(ctx context.Context) error {
	h.lab.mu.Lock()
	pid := h.pid
	h.lab.mu.Unlock()
	return h.waitFor(ctx, h.dockerdWait("listening", fmt.Sprintf("listen on TCP %d (the overlay's serf)", serfPort)),
		func(context.Context) error { return listeningTCP(pid, serfPort) })
}

// dockerdLog is the host's dockerd.log (dockerdSpec.logFile).
func (h *Host) dockerdLog() string { return filepath.Join(h.stateDir(), "dockerd.log") }

// dockerdWait is how waitFor waits for the host's dockerd.
func (h *Host) dockerdWait(before, to string) daemonWait {
	return daemonWait{
		daemon: "dockerd", log: h.dockerdLog(), timeout: dockerdTimeout, every: 50 * time.Millisecond,
		before: before, to: to,
	}
}

// listeningTCP says whether the network namespace of process pid has a
// TCP socket listening on port, from /proc/<pid>/net/tcp and tcp6.
func listeningTCP(pid, port int) error {
	want := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			// sl local_address rem_address st ...; st 0A is LISTEN.
			fs := strings.Fields(line)
			if len(fs) > 3 && strings.HasSuffix(fs[1], want) && fs[3] == "0A" {
				return nil
			}
		}
	}
	return fmt.Errorf("nothing listens on TCP %d", port)
}

// removeContainers removes every container of the lab's running dockerds
// (`docker rm -f`, all at once): dockerd stopping with containers would
// give each its stop timeout first.
func (l *Lab) removeContainers(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var (
		mu   sync.Mutex
		errs []error
	)
	err := forEach(ctx, l.dockerHosts(), len(l.hosts), func(ctx context.Context, h *Host) error {
		if _, err := os.Stat(h.socket); err != nil {
			return nil // never started, or gone
		}
		if err := removeAllContainers(ctx, h.socket); err != nil {
			mu.Lock()
			errs = append(errs, fmt.Errorf("host %s: %w", h.Name, err))
			mu.Unlock()
		}
		return nil
	})
	return errors.Join(append(errs, err)...)
}
