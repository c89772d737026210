package hostd

import (
	"errors"
	"strconv"
	"time"

	"github.com/nslab/nslab/hostd/errdefs"
)

// Start runs a created or stopped container: sandbox and endpoints, files,
// then its command; each step is undone when a later one fails.
func (d *Daemon) Start(c *Container) error {
	c.op.Lock()
	err := d.startLocked(c)
	c.op.Unlock()
	if err != nil && err != errdefs.ErrNotModified && c.HostConfig.AutoRemove {
		// Docker removes an --rm container whose start failed; the CLI
		// waits for that removal before it reports the error.
		if rerr := d.Remove(c, true, true); rerr != nil {
			d.log.Printf("container %s: auto-remove after failed start: %v", c.Name, rerr)
		}
	}
	return err
}

func (d *Daemon) startLocked(c *Container) error {
	d.mu.Lock()
	switch {
	case c.removed:
		d.mu.Unlock()
		return errNoSuchContainer(c.ID)
	case c.state == StateRunning:
		d.mu.Unlock()
		return errdefs.ErrNotModified
	case c.state == stateRemoving:
		d.mu.Unlock()
		return errdefs.Conflict("container is marked for removal and cannot be started")
	case d.closing:
		d.mu.Unlock()
		return errdefs.Errorf(503, "hostd %s is shutting down", d.cfg.Host)
	}
	d.mu.Unlock()

	links, err := d.resolveLinks(c)
	if err != nil {
		return d.startFailed(c, err)
	}
	if err := d.prepareMounts(c); err != nil {
		return d.startFailed(c, err)
	}
	ns, err := d.setupNetwork(c, links)
	if err != nil {
		return d.startFailed(c, err)
	}
	// The joins may still run: Stop lets them end before the sandbox goes.
	undo := func() { d.stopNetwork(c) }
	spec, err := d.containerSpec(c, ns)
	if err != nil {
		undo()
		return d.startFailed(c, err)
	}
	r, err := d.spawn(c, ns, spec)
	if err != nil {
		undo()
		return d.startFailed(c, err)
	}
	d.mu.Lock()
	c.state = StateRunning
	c.run = r
	c.exitCode = 0
	c.errMsg = ""
	c.startedAt = time.Now().UTC()
	c.sandbox = ns.sandbox
	c.hostsPath, c.resolvPath, c.hostnamePath = ns.hosts, ns.resolv, ns.hostFile
	if ns.hostname != "" {
		c.Config.Hostname = ns.hostname
	}
	d.fillEndpoints(c)
	d.startEvents(c)
	d.mu.Unlock()
	go d.monitor(c, r)
	return nil
}

// startEvents logs a start as dockerd does: a network connect for each
// network joined, a volume mount for each volume, then the start.
// Callers hold d.mu.
func (d *Daemon) startEvents(c *Container) {
	for _, ep := range d.ctl.Endpoints(c.ID) {
		d.networkEventByName(ep.Network, "connect", map[string]string{"container": c.ID})
	}
	for _, m := range c.mounts {
		if m.Type == "volume" {
			d.VolumeEvent(m.Name, "mount", map[string]string{
				"container": c.ID, "destination": m.Destination, "propagation": m.Propagation, "read/write": strconv.FormatBool(m.RW),
			})
		}
	}
	d.containerEvent(c, "start", nil)
}

// exitEvents logs a container's exit as dockerd does once its process
// ended: the die with its exit code, a network disconnect for each network
// it was on (networks, taken before its endpoints went), a volume unmount
// for each volume. Callers hold d.mu.
func (d *Daemon) exitEvents(c *Container, code int, networks []string) {
	d.containerEvent(c, "die", map[string]string{"exitCode": strconv.Itoa(code)})
	for _, n := range networks {
		d.networkEventByName(n, "disconnect", map[string]string{"container": c.ID})
	}
	for _, m := range c.mounts {
		if m.Type == "volume" {
			d.VolumeEvent(m.Name, "unmount", map[string]string{"container": c.ID})
		}
	}
}

// startFailed records a failed start in State.Error and State.ExitCode,
// as Docker does: the command's exit code when it could not run (127, 126),
// else 128 unless one is set already.
func (d *Daemon) startFailed(c *Container, err error) error {
	err = runcError("create", err)
	code := 128
	var se *startError
	if errors.As(err, &se) {
		code, err = se.code, errdefs.Errorf(se.status, "%s", se.msg)
	}
	_, msg := errdefs.Status(err)
	d.mu.Lock()
	c.errMsg = msg
	if c.exitCode == 0 || se != nil {
		c.exitCode = code
	}
	d.mu.Unlock()
	return err
}
