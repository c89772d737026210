package hostd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/netimpl"
)

// Volume is a volume of Docker's local driver, as GET /volumes/{name}
// shows it: a directory <DataRoot>/volumes/<name>/_data.
type Volume struct {
	CreatedAt  string
	Driver     string
	Labels     map[string]string
	Mountpoint string
	Name       string
	Options    map[string]string
	Scope      string
}

// volumeStore is the host's local volumes. Each volume's directory holds
// its data (_data) and what inspect shows of it (volume.json), so a
// restarted hostd finds its volumes again, as dockerd does.
type volumeStore struct {
	dir  string
	mu   sync.Mutex
	vols map[string]*Volume
}

// validVolumeName is the local driver's rule.
var validVolumeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func checkVolumeName(name string) error {
	if !validVolumeName.MatchString(name) {
		return errdefs.BadRequest("%q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", name)
	}
	return nil
}

func pathExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// openVolumes reads the volumes under dir.
func openVolumes(dir string) (*volumeStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &volumeStore{dir: dir, vols: map[string]*Volume{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "volume.json"))
		if err != nil {
			continue
		}
		var v Volume
		if json.Unmarshal(b, &v) == nil && v.Name == e.Name() {
			s.vols[v.Name] = &v
		}
	}
	return s, nil
}

// create makes a volume, or returns the one of that name (Docker's
// create is idempotent); an empty name makes an anonymous volume.
func (s *volumeStore) create(name string, labels, opts map[string]string) (*Volume, error) {
	if name == "" {
		name = netimpl.NewID()
	} else if err := checkVolumeName(name); err != nil {
		return nil, errdefs.WithPrefix(err, "create %s: ", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vols[name]; ok {
		return v, nil
	}
	dir := filepath.Join(s.dir, name)
	v := &Volume{
		CreatedAt: time.Now().UTC().Format(time.RFC3339), Driver: "local", Labels: labels,
		Mountpoint: filepath.Join(dir, "_data"), Name: name, Options: opts, Scope: "local",
	}
	b, err := json.Marshal(v)
	if err == nil {
		err = os.MkdirAll(v.Mountpoint, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "volume.json"), b, 0o644)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	s.vols[name] = v
	return v, nil
}

func errNoSuchVolume(name string) error { return errdefs.NotFound("get %s: no such volume", name) }

// get finds a volume.
func (s *volumeStore) get(name string) (*Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vols[name]; ok {
		return v, nil
	}
	return nil, errNoSuchVolume(name)
}

func (s *volumeStore) has(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.vols[name]
	return ok
}

// list returns the volumes sorted by name.
func (s *volumeStore) list() []*Volume {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Volume, 0, len(s.vols))
	for _, v := range s.vols {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// remove deletes a volume and its data; the caller checked it is unused.
func (s *volumeStore) remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.vols[name]; !ok {
		return errNoSuchVolume(name)
	}
	if err := os.RemoveAll(filepath.Join(s.dir, name)); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	delete(s.vols, name)
	return nil
}

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
	err := d.volumes.remove(name)
	if force && errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// createVolumes creates the volumes a new container's mounts name (and
// anonymous ones), before the container exists. Callers hold d.mu.
func (d *Daemon) createVolumes(ms []*mountPoint) ([]string, error) {
	var made []string
	for _, m := range ms {
		if m.Type != "volume" {
			continue
		}
		if m.Name == "" {
			m.anonymous = true
		}
		existed := d.volumes.has(m.Name)
		v, err := d.volumes.create(m.Name, m.labels, nil)
		if err != nil {
			for _, n := range made {
				d.volumes.remove(n)
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
		if m.Type == "volume" && m.anonymous && len(d.volumeUsers(m.Name)) == 0 {
			if err := d.volumes.remove(m.Name); err != nil {
				errs = append(errs, err)
			} else {
				d.volumeEvent(m.Name, "destroy", nil)
			}
		}
	}
	return errors.Join(errs...)
}
