package hostd

import (
	"errors"
	"sort"

	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/mount"
)

// volumeUsers lists the containers whose mounts use the volume. Callers
// hold d.mu.
func (d *Daemon) volumeUsers(name string) []string {
	var ids []string
	for _, c := range d.containers {
		for _, m := range c.mounts {
			if m.Type == "volume" && m.Name == name {
				ids = append(ids, c.ID)
				break
			}
		}
	}
	sort.Strings(ids)
	return ids
}

// removeVolume removes a volume nobody uses: Docker's 409 names the
// containers that do.
func (d *Daemon) removeVolume(name string, force bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if users := d.volumeUsers(name); len(users) > 0 {
		return errdefs.Conflict("remove %s: volume is in use - %v", name, users)
	}
	err := d.volumes.Remove(name)
	if force && errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// createVolumes creates the volumes a new container's mounts name (and
// anonymous ones), before the container exists. Callers hold d.mu.
func (d *Daemon) createVolumes(ms []*mount.Point) ([]string, error) {
	var made []string
	for _, m := range ms {
		if m.Type != "volume" {
			continue
		}
		if m.Name == "" {
			m.Anonymous = true
		}
		existed := d.volumes.Has(m.Name)
		v, err := d.volumes.Create(m.Name, m.Labels, nil)
		if err != nil {
			for _, n := range made {
				d.volumes.Remove(n)
			}
			return nil, err
		}
		if !existed {
			made = append(made, v.Name)
		}
		m.Name, m.Source = v.Name, v.Mountpoint
	}
	return made, nil
}

// removeAnonymousVolumes removes the container's anonymous volumes that no
// other container uses (docker rm -v, --rm). Callers hold d.mu.
func (d *Daemon) removeAnonymousVolumes(c *Container) error {
	var errs []error
	for _, m := range c.mounts {
		if m.Type == "volume" && m.Anonymous && len(d.volumeUsers(m.Name)) == 0 {
			if err := d.volumes.Remove(m.Name); err != nil {
				errs = append(errs, err)
			} else {
				d.volumeEvent(m.Name, "destroy", nil)
			}
		}
	}
	return errors.Join(errs...)
}
