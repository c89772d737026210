package hostd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/proc"
	"golang.org/x/sys/unix"
)

// defaultStopTimeout is Docker's grace period between the stop signal and
// SIGKILL.
const defaultStopTimeout = 10

// signalRun sends sig to the container's command, PID 1 of its PID
// namespace, through its pidfd (so a recycled pid is never hit), and logs
// dockerd's kill event. As in Docker, PID 1 ignores a signal it has no
// handler for (a SIGTERM to `sleep`), except SIGKILL, which also ends
// every other process of the namespace.
func (d *Daemon) signalRun(c *Container, r *run, sig unix.Signal) {
	d.ContainerEventUnlocked(c, "kill", map[string]string{"signal": strconv.Itoa(int(sig))})
	r.proc.Signal(sig)
}

// Stop sends the stop signal, waits up to timeout seconds (negative: for
// ever), then SIGKILLs. A container that is not running answers 304.
func (d *Daemon) Stop(c *Container, timeout *int) error {
	c.op.Lock()
	defer c.op.Unlock()
	return d.stopLocked(c, timeout)
}

func (d *Daemon) stopLocked(c *Container, timeout *int) error {
	d.mu.Lock()
	r := c.run
	t := defaultStopTimeout
	if c.Config.StopTimeout != nil {
		t = *c.Config.StopTimeout
	}
	d.mu.Unlock()
	if r == nil {
		return errdefs.ErrNotModified
	}
	if timeout != nil {
		t = *timeout
	}
	sig, _ := proc.ParseSignal(c.Config.StopSignal, true)
	d.signalRun(c, r, sig)
	stopped := func() error {
		d.ContainerEventUnlocked(c, "stop", nil)
		return nil
	}
	if t < 0 {
		<-r.done
		return stopped()
	}
	select {
	case <-r.done:
		return stopped()
	case <-time.After(time.Duration(t) * time.Second):
	}
	if err := d.killAndWait(c, r); err != nil {
		return err
	}
	return stopped()
}

// killAndWait SIGKILLs a run and waits for the monitor to finish with it.
func (d *Daemon) killAndWait(c *Container, r *run) error {
	d.signalRun(c, r, unix.SIGKILL)
	select {
	case <-r.done:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("container %s: still running 30s after SIGKILL", c.ID)
	}
}

// Kill sends a signal; for SIGKILL it also waits until the container is
// stopped, as Docker does.
func (d *Daemon) Kill(c *Container, sig unix.Signal) error {
	d.mu.Lock()
	r := c.run
	d.mu.Unlock()
	if r == nil {
		return errdefs.Conflict("Cannot kill container: %s: Container %s is not running", c.ID, c.ID)
	}
	if sig == unix.SIGKILL {
		return d.killAndWait(c, r)
	}
	d.signalRun(c, r, sig)
	return nil
}

// Restart stops the container if it runs and starts it again.
func (d *Daemon) Restart(c *Container, timeout *int) error {
	c.op.Lock()
	defer c.op.Unlock()
	if err := d.stopLocked(c, timeout); err != nil && err != errdefs.ErrNotModified {
		return err
	}
	if err := d.startLocked(c); err != nil {
		return err
	}
	d.ContainerEventUnlocked(c, "restart", nil)
	return nil
}

// WaitFor blocks until the condition holds and returns the exit code:
// "not-running" (default) returns at once for a stopped container,
// "next-exit" waits for the next exit, "removed" for the removal.
func (d *Daemon) WaitFor(c *Container, condition string) (<-chan int, error) {
	ch := make(chan int, 1)
	d.mu.Lock()
	defer d.mu.Unlock()
	switch condition {
	case "", "not-running":
		if c.state != StateRunning {
			ch <- c.exitCode
			return ch, nil
		}
		c.exitWaiters = append(c.exitWaiters, ch)
	case "next-exit":
		c.exitWaiters = append(c.exitWaiters, ch)
	case "removed":
		if c.removed {
			ch <- c.exitCode
			return ch, nil
		}
		c.removeWaiters = append(c.removeWaiters, ch)
	default:
		return nil, errdefs.BadRequest("invalid condition: %q", condition)
	}
	return ch, nil
}

// cancelWait forgets a waiter whose client went away.
func (d *Daemon) cancelWait(c *Container, ch <-chan int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	drop := func(list []chan int) []chan int {
		out := list[:0]
		for _, w := range list {
			if (<-chan int)(w) != ch {
				out = append(out, w)
			}
		}
		return out
	}
	c.exitWaiters = drop(c.exitWaiters)
	c.removeWaiters = drop(c.removeWaiters)
}

// Remove deletes a container: a running one only with force (SIGKILL
// first). Its files, log and writable layer go, with volumes its
// anonymous volumes (rm -v, --rm), and "removed" waiters wake up.
func (d *Daemon) Remove(c *Container, force, volumes bool) error {
	c.op.Lock()
	defer c.op.Unlock()
	d.mu.Lock()
	if c.removed {
		d.mu.Unlock()
		return nil
	}
	if c.state == stateRemoving {
		d.mu.Unlock()
		return errdefs.Conflict("removal of container %s is already in progress", c.ID)
	}
	r := c.run
	if r != nil && !force {
		d.mu.Unlock()
		return errdefs.Conflict("You cannot remove a running container %s. Stop the container before attempting removal or force remove", c.ID)
	}
	d.mu.Unlock()
	if r != nil {
		if err := d.killAndWait(c, r); err != nil {
			return err
		}
	}
	d.mu.Lock()
	c.state = stateRemoving
	c.removed = true
	delete(d.containers, c.ID)
	delete(d.names, c.Name)
	for _, id := range c.execIDs {
		delete(d.execs, id)
	}
	waiters := append(c.removeWaiters, c.exitWaiters...)
	c.removeWaiters, c.exitWaiters = nil, nil
	code := c.exitCode
	var verr error
	if volumes {
		verr = d.removeAnonymousVolumes(c)
	}
	d.containerEvent(c, "destroy", nil)
	d.mu.Unlock()
	c.streams.Close()
	// The writable layer goes with the container (its mounts went with its
	// processes: they lived in its mount namespace only).
	err := errors.Join(os.RemoveAll(c.dir), os.RemoveAll(c.data), verr)
	for _, w := range waiters {
		w <- code
	}
	if err != nil {
		return fmt.Errorf("container %s: remove state: %w", c.Name, err)
	}
	return nil
}

// WaitCtx waits for a waiter channel or the client going away.
func (d *Daemon) WaitCtx(ctx context.Context, c *Container, ch <-chan int) (int, bool) {
	select {
	case code := <-ch:
		return code, true
	case <-ctx.Done():
		d.cancelWait(c, ch)
		return 0, false
	}
}
