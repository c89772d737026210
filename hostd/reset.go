package hostd

import (
	"errors"
	"fmt"
	"sync"
)

// Reset puts the daemon back to how it started, without starting it again:
// every container killed and removed (as a daemon that stops takes its
// containers with it), then the network side as New made it (local
// networks but the predefined removed, tunnels closed, and what it hands
// out in turn rewound: the next default pool, published ports' ephemeral
// round, the veth pairs' indexes; see controller.Reset), and no events to
// look back on. So the next container, network and published port get the
// numbers a fresh daemon's would. Volumes and images stay, as they stay
// across a restart of dockerd; global networks stay for the cluster store
// (removed through it once no host has a container on them).
func (d *Daemon) Reset() error {
	d.mu.Lock()
	if d.closing {
		d.mu.Unlock()
		return errors.New("reset: the daemon is shutting down")
	}
	all := make([]*Container, 0, len(d.containers))
	for _, c := range d.containers {
		all = append(all, c)
	}
	d.mu.Unlock()
	// The links go all at once, while the containers are killed and their
	// rules removed: the kernel waits out its grace periods meanwhile.
	// What Unplug leaves is removed one by one.
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := d.ctl.Unplug(); err != nil {
			d.log.Printf("reset: %v", err)
		}
	})
	errs := make([]error, len(all))
	for i, c := range all {
		wg.Go(func() {
			if err := d.Remove(c, true, false); err != nil {
				errs[i] = fmt.Errorf("container %s: %w", c.ID, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	if err := d.ctl.Reset(); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	d.events.Forget()
	return nil
}
