package hostd

import (
	"errors"
	"io/fs"
	"path/filepath"
	"sort"

	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/mount"
	"github.com/nslab/nslab/hostd/volume"
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

// RemoveVolume removes a volume nobody uses: Docker's 409 names the
// containers that do.
func (d *Daemon) RemoveVolume(name string, force bool) error {
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
				d.VolumeEvent(m.Name, "destroy", nil)
			}
		}
	}
	return errors.Join(errs...)
}

// PruneVolumes removes every volume no container uses that match selects,
// and returns their names and the bytes their data held.
func (d *Daemon) PruneVolumes(match func(*volume.Volume) bool) ([]string, int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	deleted := []string{}
	var reclaimed int64
	for _, v := range d.volumes.List() {
		if len(d.volumeUsers(v.Name)) > 0 || !match(v) {
			continue
		}
		size := dirSize(v.Mountpoint)
		if err := d.volumes.Remove(v.Name); err == nil {
			deleted = append(deleted, v.Name)
			reclaimed += size
		}
	}
	return deleted, reclaimed
}

// VolumesInUse are the volumes some container's mounts use.
func (d *Daemon) VolumesInUse() map[string]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	used := map[string]bool{}
	for _, c := range d.containers {
		for _, m := range c.mounts {
			if m.Type == "volume" {
				used[m.Name] = true
			}
		}
	}
	return used
}

// dirSize is the size of the regular files under dir (a volume's data,
// hostd's own directory; symlinks are not followed).
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
