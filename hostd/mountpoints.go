package hostd

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/volume"
)

// mountPoint is one of a container's mounts beside its root filesystem,
// as Docker's MountPoint (inspect's Mounts): a bind of a path of the
// machine, a volume, or a tmpfs.
type mountPoint struct {
	Type        string // bind, volume, tmpfs
	Name        string // the volume
	Source      string // the machine's path (a volume's is filled in at start)
	Destination string
	Driver      string
	Mode        string // -v's mode, as typed
	RW          bool
	Propagation string
	// options are a tmpfs's.
	options []string
	// anonymous volumes go with the container (--rm, rm -v).
	anonymous bool
	// copyData fills an empty volume with the image's files at its
	// destination on the first start, unless nocopy says otherwise.
	copyData bool
	// labels are given to a volume --mount creates.
	labels map[string]string
	// inherited is a mount of --volumes-from, which the container's own
	// mounts override.
	inherited bool
	// tmpfsFlag is a --tmpfs mount (not listed in inspect's Mounts).
	tmpfsFlag bool
}

// Docker's texts for mount specifications (volume/mounts).
func errInvalidSpec(spec string) error {
	return errdefs.BadRequest("invalid volume specification: '%s'", spec)
}

// errMountConfig is Docker's wrapping of a --mount (or -v) that fails
// validation.
func errMountConfig(typ string, err error) error {
	return errdefs.BadRequest("invalid mount config for type %q: %v", typ, err)
}

// The modes -v accepts on Linux, by kind; at most one of each kind.
var mountModeKinds = map[string]string{
	"rw": "rw", "ro": "rw",
	"z": "label", "Z": "label",
	"private": "propagation", "rprivate": "propagation", "shared": "propagation",
	"rshared": "propagation", "slave": "propagation", "rslave": "propagation",
	"nocopy":     "copy",
	"consistent": "consistency", "cached": "consistency", "delegated": "consistency",
}

// checkMode is Docker's linuxValidMountMode, and refuses by name what hostd
// does not do: a propagation other than private (the container's mounts
// never propagate, to the machine or from it). SELinux labels (z, Z) and
// consistency modes do nothing on Linux without SELinux, in Docker too.
func checkMode(mode string) error {
	if mode == "" {
		return nil
	}
	seen := map[string]bool{}
	for _, o := range strings.Split(mode, ",") {
		kind, ok := mountModeKinds[o]
		if !ok || seen[kind] {
			return errdefs.BadRequest("invalid mode: %s", mode)
		}
		seen[kind] = true
		if kind == "propagation" && o != "private" && o != "rprivate" {
			return errdefs.BadRequest("bind propagation %q is not supported by nslab's hostd: a container's mounts are private", o)
		}
	}
	return nil
}

func hasModeOption(mode, opt string) bool {
	for _, o := range strings.Split(mode, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// checkTarget is Docker's check of a mount's destination.
func checkTarget(typ, target string) error {
	switch {
	case target == "":
		return errMountConfig(typ, errors.New("field Target must not be empty"))
	case target == "/":
		return errMountConfig(typ, errors.New("invalid specification: destination can't be '/'"))
	case !path.IsAbs(target):
		return errMountConfig(typ, fmt.Errorf("invalid mount path: '%s' mount path must be absolute", target))
	}
	return nil
}

// parseBind reads one -v (HostConfig.Binds) as Docker's Linux parser:
// SRC:DST[:MODE], an absolute SRC a bind, any other a named volume.
func parseBind(spec, volumeDriver string) (*mountPoint, error) {
	parts := strings.Split(spec, ":")
	for _, p := range parts {
		if p == "" {
			return nil, errInvalidSpec(spec)
		}
	}
	m := &mountPoint{RW: true}
	switch len(parts) {
	case 2:
		if _, isMode := mountModeKinds[parts[1]]; isMode {
			// A destination and a mode: volumes cannot have one alone.
			return nil, errInvalidSpec(spec)
		}
		m.Source, m.Destination = parts[0], parts[1]
	case 3:
		m.Source, m.Destination, m.Mode = parts[0], parts[1], parts[2]
	default:
		return nil, errInvalidSpec(spec)
	}
	if err := checkMode(m.Mode); err != nil {
		return nil, err
	}
	m.RW = !hasModeOption(m.Mode, "ro")
	if path.IsAbs(m.Source) {
		m.Type, m.Propagation = "bind", "rprivate"
		m.Source = path.Clean(m.Source)
	} else {
		m.Type, m.Name, m.Driver = "volume", m.Source, "local"
		m.Source = ""
		m.copyData = !hasModeOption(m.Mode, "nocopy")
		if err := checkVolumeDriver(volumeDriver); err != nil {
			return nil, errdefs.WithPrefix(err, "create %s: ", m.Name)
		}
		if err := volume.CheckName(m.Name); err != nil {
			return nil, errdefs.WithPrefix(err, "create %s: ", m.Name)
		}
	}
	if err := checkTarget(m.Type, m.Destination); err != nil {
		return nil, errdefs.WithPrefix(err, "invalid volume specification: '%s': ", spec)
	}
	m.Destination = path.Clean(m.Destination)
	return m, nil
}

// checkVolumeDriver refuses a volume driver other than local (plugins do
// not exist here).
func checkVolumeDriver(driver string) error {
	if driver != "" && driver != "local" {
		return errdefs.NotFound("error looking up volume plugin %s: plugin %q not found", driver, driver)
	}
	return nil
}

// parseMountSpec reads one --mount (HostConfig.Mounts).
func parseMountSpec(ms MountSpec) (*mountPoint, error) {
	if err := checkTarget(ms.Type, ms.Target); err != nil {
		return nil, err
	}
	m := &mountPoint{Type: ms.Type, Source: ms.Source, Destination: path.Clean(ms.Target), RW: !ms.ReadOnly}
	switch ms.Type {
	case "bind":
		switch {
		case ms.Source == "":
			return nil, errMountConfig(ms.Type, errors.New("field Source must not be empty"))
		case ms.VolumeOptions != nil:
			return nil, errMountConfig(ms.Type, errors.New("field VolumeOptions must not be specified"))
		case !path.IsAbs(ms.Source):
			return nil, errMountConfig(ms.Type, fmt.Errorf("invalid mount path: '%s' mount path must be absolute", ms.Source))
		case !pathExists(ms.Source):
			return nil, errMountConfig(ms.Type, fmt.Errorf("bind source path does not exist: %s", ms.Source))
		}
		m.Propagation = "rprivate"
		if bo := ms.BindOptions; bo != nil {
			if bo.NonRecursive {
				return nil, errdefs.BadRequest("bind-nonrecursive is not supported by nslab's hostd")
			}
			if bo.Propagation != "" {
				if err := checkMode(bo.Propagation); err != nil {
					return nil, err
				}
				m.Propagation = bo.Propagation
			}
		}
	case "volume":
		if ms.BindOptions != nil {
			return nil, errMountConfig(ms.Type, errors.New("field BindOptions must not be specified"))
		}
		if ms.Source == "" && ms.ReadOnly {
			return nil, errMountConfig(ms.Type, errors.New("must not set ReadOnly mode when using anonymous volumes"))
		}
		m.Name, m.Source, m.Driver, m.copyData = ms.Source, "", "local", true
		if vo := ms.VolumeOptions; vo != nil {
			m.copyData, m.labels = !vo.NoCopy, vo.Labels
			if vo.DriverConfig != nil {
				if err := checkVolumeDriver(vo.DriverConfig.Name); err != nil {
					return nil, errdefs.WithPrefix(err, "create %s: ", ms.Source)
				}
				if len(vo.DriverConfig.Options) > 0 {
					return nil, errdefs.BadRequest("volume-opt is not supported by nslab's hostd: its local volumes are directories, without mount options")
				}
			}
		}
		if m.Name != "" {
			if err := volume.CheckName(m.Name); err != nil {
				return nil, errdefs.WithPrefix(err, "create %s: ", m.Name)
			}
		}
	case "tmpfs":
		if ms.BindOptions != nil {
			return nil, errMountConfig(ms.Type, errors.New("field BindOptions must not be specified"))
		}
		if ms.Source != "" {
			return nil, errMountConfig(ms.Type, errors.New("field Source must not be specified"))
		}
		if to := ms.TmpfsOptions; to != nil {
			if to.SizeBytes > 0 {
				m.options = append(m.options, fmt.Sprintf("size=%d", to.SizeBytes))
			}
			if to.Mode != 0 {
				m.options = append(m.options, fmt.Sprintf("mode=%o", to.Mode.Perm()))
			}
		}
	case "npipe":
		return nil, errMountConfig(ms.Type, errors.New("mount type unknown"))
	default:
		return nil, errMountConfig(ms.Type, errors.New("mount type unknown"))
	}
	if ms.Consistency != "" && mountModeKinds[ms.Consistency] != "consistency" && ms.Consistency != "default" {
		return nil, errdefs.BadRequest("invalid mount consistency: %s", ms.Consistency)
	}
	return m, nil
}

// parseTmpfs reads one --tmpfs DST[:OPTIONS] (HostConfig.Tmpfs). Every
// writable filesystem of a container is nodev here (no device cgroup):
// dev is refused by name rather than ignored.
func parseTmpfs(dst, opts string) (*mountPoint, error) {
	if err := checkTarget("tmpfs", dst); err != nil {
		return nil, err
	}
	m := &mountPoint{Type: "tmpfs", Destination: path.Clean(dst), RW: true, tmpfsFlag: true}
	if opts == "" {
		return m, nil
	}
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "dev":
			return nil, errdefs.BadRequest("tmpfs option dev is not supported by nslab's hostd: every writable filesystem of a container is nodev (there is no device cgroup)")
		case "ro":
			m.RW = false
		case "":
		default:
			m.options = append(m.options, o)
		}
	}
	return m, nil
}

// mountPoints reads every mount of a create request: --volumes-from
// first, then -v, --mount, --tmpfs and the image's and -v's anonymous
// volumes (Config.Volumes), each destination at most once, as Docker's
// registerMountPoints does. Callers hold d.mu (volumes-from looks up
// containers).
func (d *Daemon) mountPoints(cfg *ContainerConfig, hc *HostConfig) ([]*mountPoint, error) {
	byDest := map[string]*mountPoint{}
	add := func(m *mountPoint, fromOther bool) error {
		if old, dup := byDest[m.Destination]; dup && !old.inherited {
			return errdefs.BadRequest("Duplicate mount point: %s", m.Destination)
		}
		m.inherited = fromOther
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
		m, err := parseBind(b, hc.VolumeDriver)
		if err == nil {
			err = add(m, false)
		}
		if err != nil {
			return nil, err
		}
	}
	for _, ms := range hc.Mounts {
		m, err := parseMountSpec(ms)
		if err == nil {
			err = add(m, false)
		}
		if err != nil {
			return nil, err
		}
	}
	for dst, opts := range hc.Tmpfs {
		m, err := parseTmpfs(dst, opts)
		if err == nil {
			err = add(m, false)
		}
		if err != nil {
			return nil, err
		}
	}
	for dst := range cfg.Volumes {
		if err := checkTarget("volume", dst); err != nil {
			return nil, err
		}
		if _, taken := byDest[path.Clean(dst)]; !taken {
			add(&mountPoint{Type: "volume", Destination: path.Clean(dst), Driver: "local", RW: true, copyData: true}, false)
		}
	}
	out := make([]*mountPoint, 0, len(byDest))
	for _, m := range byDest {
		out = append(out, m)
	}
	sortMounts(out)
	return out, nil
}

// sortMounts orders mounts as Docker does: by the depth of their
// destination, so that a mount inside another comes after it.
func sortMounts(ms []*mountPoint) {
	sort.SliceStable(ms, func(i, j int) bool {
		di, dj := strings.Count(ms[i].Destination, "/"), strings.Count(ms[j].Destination, "/")
		if di != dj {
			return di < dj
		}
		return ms[i].Destination < ms[j].Destination
	})
}

// volumesFrom copies another container's mounts (--volumes-from
// NAME[:ro|rw]), with the mode given. Callers hold d.mu.
func (d *Daemon) volumesFrom(spec string) ([]*mountPoint, error) {
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
	var out []*mountPoint
	for _, m := range other.mounts {
		if m.Type == "tmpfs" {
			continue
		}
		cp := *m
		cp.RW = m.RW && mode != "ro"
		cp.anonymous, cp.copyData = false, false
		out = append(out, &cp)
	}
	return out, nil
}
