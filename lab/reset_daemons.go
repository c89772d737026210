package lab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"time"
)

// A daemon keeps state of its own that no API call puts back, and that
// decides what the next exercise sees. dockerd takes the address pools of
// new networks round-robin, in memory (libnetwork's predefined start
// index): once it made and removed br1 (172.18.0.0/16) its next network
// gets 172.19.0.0/16, where a fresh dockerd gives 172.18.0.0/16 again, as
// the exercises expect; a clustered one counts on the cluster store's ipam
// and idm keys it made. Both dockerd and hostd take ephemeral host ports
// (-P) round-robin too: a fresh daemon's first is the first of
// ip_local_port_range. So Reset starts a real dockerd again, as up started
// it, when one made a network or started a container that took an
// ephemeral host port since up (its events and the container say so; a
// container's address is the lowest free one, which its removal frees):
// the daemons are stopped, the cluster store's keys put back while
// none runs, and they start again. hostd puts itself back in process
// instead (POST /nslab/reset, hostd.Daemon.Reset): its containers go, its
// networks but the predefined, and what it hands out in turn starts again
// where a fresh hostd's would, in a few milliseconds rather than the tenth
// of a second a stop and a start cost.

// daemonStopGrace is how long a daemon without containers gets to stop
// (dockerd stops its containerd first).
const daemonStopGrace = 20 * time.Second

// daemonsMoved says whether the lab's daemons must start again.
func (l *Lab) daemonsMoved(ctx context.Context, since time.Time) (bool, error) {
	if l.Runtime() == RuntimeHostd {
		return false, nil
	}
	return l.dockerdsMoved(ctx, since)
}

// resetHostds puts every hostd of the lab back to how it started, all at
// once (POST /nslab/reset).
func (l *Lab) resetHostds(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, daemonTimeout)
	defer cancel()
	return forEach(ctx, l.dockerHosts(), len(l.dockerHosts()), func(ctx context.Context, h *Host) error {
		resp, err := h.hostdAPI(ctx, http.MethodPost, "/nslab/reset")
		if err != nil {
			return fmt.Errorf("host %s: reset its daemon: %w", h.Name, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return fmt.Errorf("host %s: reset its daemon: %s: %s", h.Name, resp.Status, bytes.TrimSpace(msg))
		}
		return nil
	})
}

// stopDaemons stops every daemon of the lab (SIGTERM), waits until each is
// gone, and removes what would make the next start differ from up's
// (freshStart).
func (l *Lab) stopDaemons(ctx context.Context) error {
	var ps []proc
	for _, h := range l.dockerHosts() {
		pid := h.HostdPID()
		start, ok := procStart(pid)
		if !ok {
			return fmt.Errorf("host %s: %w: its daemon is gone", h.Name, ErrNotResettable)
		}
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			return fmt.Errorf("host %s: stop its daemon: %w", h.Name, err)
		}
		ps = append(ps, proc{pid: pid, start: start})
	}
	if left := waitGone(ctx, ps, daemonStopGrace); len(left) > 0 {
		return fmt.Errorf("lab %s: %w: a daemon (pid %d) did not stop in %s", l.ID(), ErrNotResettable, left[0].pid, daemonStopGrace)
	}
	for _, h := range l.dockerHosts() {
		if err := h.freshStart(); err != nil {
			return err
		}
	}
	return nil
}

// startDaemonsAgain starts the lab's real dockerds as up did (hostd puts
// itself back in process instead), and makes them the daemons of base:
// their processes, what they have (a dockerd gives its default networks
// new ids at every start, as at up) and their docker0.
func (l *Lab) startDaemonsAgain(ctx context.Context, base *baseline) error {
	docker := l.dockerHosts()
	p := newProgress(io.Discard, "daemon", len(docker))
	bin, err := FindDockerd(l.state.Dockerd)
	if err != nil {
		return err
	}
	if err := l.launchDockerds(ctx, bin, docker, p, len(docker)); err != nil {
		return err
	}
	// As at up: the read-back then finds the keys every start writes.
	if err := l.waitNodeKeys(ctx); err != nil {
		return err
	}
	for _, h := range docker {
		d, err := h.readDaemon(ctx)
		if err != nil {
			return err
		}
		base.Daemons[h.Name] = d
		if err := h.renewBridge(base.Namespaces[l.ID()+"-"+h.Name]); err != nil {
			return err
		}
	}
	procs := l.processes()
	roots := l.rootProcs()
	base.Roots = base.Roots[:0]
	for _, p := range procs {
		if roots[p.PID] {
			base.Roots = append(base.Roots, p)
		}
	}
	return l.saveBaseline(base)
}
