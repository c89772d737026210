package hostd

import (
	"path"
	"strings"

	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/mount"
)

// mountPoints reads every mount of a create request: --volumes-from
// first, then -v, --mount, --tmpfs and the image's and -v's anonymous
// volumes (Config.Volumes), each destination at most once, as Docker's
// registerMountPoints does. Callers hold d.mu (volumes-from looks up
// containers).
func (d *Daemon) mountPoints(cfg *types.ContainerConfig, hc *types.HostConfig) ([]*mount.Point, error) {
	byDest := map[string]*mount.Point{}
	add := func(m *mount.Point, fromOther bool) error {
		if old, dup := byDest[m.Destination]; dup && !old.Inherited {
			return errdefs.BadRequest("Duplicate mount point: %s", m.Destination)
		}
		m.Inherited = fromOther
		byDest[m.Destination] = m
		return nil
	}
	for _, spec := range hc.VolumesFrom {
		ms, err := d.volumesFrom(spec)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			add(m, true)
		}
	}
	for _, b := range hc.Binds {
		m, err := mount.ParseBind(b, hc.VolumeDriver)
		if err == nil {
			err = add(m, false)
		}
		if err != nil {
			return nil, err
		}
	}
	for _, ms := range hc.Mounts {
		m, err := mount.ParseSpec(ms)
		if err == nil {
			err = add(m, false)
		}
		if err != nil {
			return nil, err
		}
	}
	for dst, opts := range hc.Tmpfs {
		m, err := mount.ParseTmpfs(dst, opts)
		if err == nil {
			err = add(m, false)
		}
		if err != nil {
			return nil, err
		}
	}
	for dst := range cfg.Volumes {
		if err := mount.CheckTarget("volume", dst); err != nil {
			return nil, err
		}
		if _, taken := byDest[path.Clean(dst)]; !taken {
			add(&mount.Point{Type: "volume", Destination: path.Clean(dst), Driver: "local", RW: true, CopyData: true}, false)
		}
	}
	out := make([]*mount.Point, 0, len(byDest))
	for _, m := range byDest {
		out = append(out, m)
	}
	mount.Sort(out)
	return out, nil
}

// volumesFrom copies another container's mounts (--volumes-from
// NAME[:ro|rw]), with the mode given. Callers hold d.mu.
func (d *Daemon) volumesFrom(spec string) ([]*mount.Point, error) {
	name, mode, _ := strings.Cut(spec, ":")
	switch mode {
	case "", "rw", "ro":
	default:
		return nil, errdefs.BadRequest("invalid mode for volumes-from: %s", mode)
	}
	other, err := d.lookup(name)
	if err != nil {
		return nil, err
	}
	var out []*mount.Point
	for _, m := range other.mounts {
		if m.Type == "tmpfs" {
			continue
		}
		cp := *m
		cp.RW = m.RW && mode != "ro"
		cp.Anonymous, cp.CopyData = false, false
		out = append(out, &cp)
	}
	return out, nil
}
