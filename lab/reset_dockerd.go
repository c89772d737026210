package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

// A real dockerd keeps state of its own that no API call puts back. It
// takes the address pools of new networks round-robin, in memory
// (libnetwork's predefined start index): once it made and removed br1
// (172.18.0.0/16) its next network gets 172.19.0.0/16, where a fresh
// dockerd gives 172.18.0.0/16 again, as the exercises expect. And a
// clustered one, once it used them, counts on the cluster store's ipam
// and idm keys it made. So Reset restarts a lab's dockerds when one of
// them made a network since up (its events say so): all are stopped, the
// store's keys put back while none runs, and they start again as up
// started them (the images stay in their data roots).

// dockerdStopGrace is how long a dockerd without containers gets to stop
// (it stops its containerd first).
const dockerdStopGrace = 20 * time.Second

// networksMade says whether a dockerd of the lab made a network since.
func (l *Lab) networksMade(ctx context.Context, since time.Time) (bool, error) {
	for _, h := range l.dockerHosts() {
		n, err := h.networkCreates(ctx, since)
		if err != nil {
			return false, err
		}
		if n > 0 {
			return true, nil
		}
	}
	return false, nil
}

// networkCreates counts the daemon's network create events since (the
// events it keeps in memory, the last 256).
func (h *Host) networkCreates(ctx context.Context, since time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, daemonTimeout)
	defer cancel()
	c, err := h.DockerClient()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ev := c.Events(ctx, client.EventsListOptions{
		Since:   strconv.FormatInt(since.Unix(), 10),
		Until:   strconv.FormatInt(time.Now().Unix()+1, 10),
		Filters: make(client.Filters).Add("type", "network").Add("event", "create"),
	})
	n := 0
	for {
		select {
		case <-ev.Messages:
			n++
		case err := <-ev.Err:
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return 0, fmt.Errorf("host %s: events: %w", h.Name, err)
		}
	}
}

// stopDockerds stops every dockerd of the lab (SIGTERM) and waits until
// each is gone.
func (l *Lab) stopDockerds(ctx context.Context) error {
	var ps []proc
	for _, h := range l.dockerHosts() {
		pid := h.HostdPID()
		start, ok := procStart(pid)
		if !ok {
			return fmt.Errorf("host %s: %w: its dockerd is gone", h.Name, ErrNotResettable)
		}
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			return fmt.Errorf("host %s: stop dockerd: %w", h.Name, err)
		}
		ps = append(ps, proc{pid: pid, start: start})
	}
	if left := waitGone(ctx, ps, dockerdStopGrace); len(left) > 0 {
		return fmt.Errorf("lab %s: %w: dockerd (pid %d) did not stop in %s", l.ID(), ErrNotResettable, left[0].pid, dockerdStopGrace)
	}
	return nil
}

// startDockerdsAgain starts the lab's dockerds as up did, and makes them
// the daemons of base: their processes, and what they have (a dockerd
// gives its default networks new ids at every start, as at up).
func (l *Lab) startDockerdsAgain(ctx context.Context, base *baseline) error {
	bin, err := FindDockerd(l.state.Dockerd)
	if err != nil {
		return err
	}
	docker := l.dockerHosts()
	if err := l.launchDockerds(ctx, bin, docker, newProgress(io.Discard, "dockerd", len(docker)), len(docker)); err != nil {
		return err
	}
	for _, h := range docker {
		d, err := h.readDaemon(ctx)
		if err != nil {
			return err
		}
		base.Daemons[h.Name] = d
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
