// Package mount is a container's files beside its image: its mount points
// (binds, volumes, tmpfs) read from -v, --mount and --tmpfs as Docker's
// parsers read them, the mount namespace a container's start copies,
// a running container's root entered from a thread, and the copy-up
// that fills a new volume with the image's files.
package mount

import (
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/volume"
)

// Point is one of a container's mounts beside its root filesystem,
// as Docker's MountPoint (inspect's Mounts): a bind of a path of the
// machine, a volume, or a tmpfs.
type Point struct {
	Type        string // bind, volume, tmpfs
	Name        string // the volume
	Source      string // the machine's path (a volume's is filled in at start)
	Destination string
	Driver      string
	Mode        string // -v's mode, as typed
	RW          bool
	Propagation string
	// Options are a tmpfs's.
	Options []string
	// Anonymous volumes go with the container (--rm, rm -v).
	Anonymous bool
	// CopyData fills an empty volume with the image's files at its
	// destination on the first start, unless nocopy says otherwise.
	CopyData bool
	// Labels are given to a volume --mount creates.
	Labels map[string]string
	// Inherited is a mount of --volumes-from, which the container's own
	// mounts override.
	Inherited bool
	// TmpfsFlag is a --tmpfs mount (not listed in inspect's Mounts).
	TmpfsFlag bool
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

// CheckTarget is Docker's check of a mount's destination.
func CheckTarget(typ, target string) error {
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

// ParseBind reads one -v (HostConfig.Binds) as Docker's Linux parser:
// SRC:DST[:MODE], an absolute SRC a bind, any other a named volume.
func ParseBind(spec, volumeDriver string) (*Point, error) {
	parts := strings.Split(spec, ":")
	for _, p := range parts {
		if p == "" {
			return nil, errInvalidSpec(spec)
		}
	}
	m := &Point{RW: true}
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
		m.CopyData = !hasModeOption(m.Mode, "nocopy")
		if err := CheckVolumeDriver(volumeDriver); err != nil {
			return nil, errdefs.WithPrefix(err, "create %s: ", m.Name)
		}
		if err := volume.CheckName(m.Name); err != nil {
			return nil, errdefs.WithPrefix(err, "create %s: ", m.Name)
		}
	}
	if err := CheckTarget(m.Type, m.Destination); err != nil {
		return nil, errdefs.WithPrefix(err, "invalid volume specification: '%s': ", spec)
	}
	m.Destination = path.Clean(m.Destination)
	return m, nil
}

// CheckVolumeDriver refuses a volume driver other than local (plugins do
// not exist here).
func CheckVolumeDriver(driver string) error {
	if driver != "" && driver != "local" {
		return errdefs.NotFound("error looking up volume plugin %s: plugin %q not found", driver, driver)
	}
	return nil
}

// ParseSpec reads one --mount (HostConfig.Mounts).
func ParseSpec(ms Spec) (*Point, error) {
	if err := CheckTarget(ms.Type, ms.Target); err != nil {
		return nil, err
	}
	m := &Point{Type: ms.Type, Source: ms.Source, Destination: path.Clean(ms.Target), RW: !ms.ReadOnly}
	switch ms.Type {
	case "bind":
		switch {
		case ms.Source == "":
			return nil, errMountConfig(ms.Type, errors.New("field Source must not be empty"))
		case ms.VolumeOptions != nil:
			return nil, errMountConfig(ms.Type, errors.New("field VolumeOptions must not be specified"))
		case !path.IsAbs(ms.Source):
			return nil, errMountConfig(ms.Type, fmt.Errorf("invalid mount path: '%s' mount path must be absolute", ms.Source))
		case !Exists(ms.Source):
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
		m.Name, m.Source, m.Driver, m.CopyData = ms.Source, "", "local", true
		if vo := ms.VolumeOptions; vo != nil {
			m.CopyData, m.Labels = !vo.NoCopy, vo.Labels
			if vo.DriverConfig != nil {
				if err := CheckVolumeDriver(vo.DriverConfig.Name); err != nil {
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
				m.Options = append(m.Options, fmt.Sprintf("size=%d", to.SizeBytes))
			}
			if to.Mode != 0 {
				m.Options = append(m.Options, fmt.Sprintf("mode=%o", to.Mode.Perm()))
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

// ParseTmpfs reads one --tmpfs DST[:OPTIONS] (HostConfig.Tmpfs). Every
// writable filesystem of a container is nodev here (no device cgroup):
// dev is refused by name rather than ignored.
func ParseTmpfs(dst, opts string) (*Point, error) {
	if err := CheckTarget("tmpfs", dst); err != nil {
		return nil, err
	}
	m := &Point{Type: "tmpfs", Destination: path.Clean(dst), RW: true, TmpfsFlag: true}
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
			m.Options = append(m.Options, o)
		}
	}
	return m, nil
}

// Sort orders mounts as Docker does: by the depth of their
// destination, so that a mount inside another comes after it.
func Sort(ms []*Point) {
	sort.SliceStable(ms, func(i, j int) bool {
		di, dj := strings.Count(ms[i].Destination, "/"), strings.Count(ms[j].Destination, "/")
		if di != dj {
			return di < dj
		}
		return ms[i].Destination < ms[j].Destination
	})
}

// Spec is one --mount (HostConfig.Mounts).
type Spec struct {
	Type          string         `json:",omitempty"`
	Source        string         `json:",omitempty"`
	Target        string         `json:",omitempty"`
	ReadOnly      bool           `json:",omitempty"`
	Consistency   string         `json:",omitempty"`
	BindOptions   *BindOptions   `json:",omitempty"`
	VolumeOptions *VolumeOptions `json:",omitempty"`
	TmpfsOptions  *TmpfsOptions  `json:",omitempty"`
}

// BindOptions are a bind mount's options.
type BindOptions struct {
	Propagation  string `json:",omitempty"`
	NonRecursive bool   `json:",omitempty"`
}

// VolumeOptions are a volume mount's options.
type VolumeOptions struct {
	NoCopy       bool              `json:",omitempty"`
	Labels       map[string]string `json:",omitempty"`
	DriverConfig *VolumeDriver     `json:",omitempty"`
}

// VolumeDriver names a volume driver and its options.
type VolumeDriver struct {
	Name    string            `json:",omitempty"`
	Options map[string]string `json:",omitempty"`
}

// TmpfsOptions are a tmpfs mount's options.
type TmpfsOptions struct {
	SizeBytes int64       `json:",omitempty"`
	Mode      os.FileMode `json:",omitempty"`
}

// Exists says whether p names a file of the machine (a bind's source).
func Exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
