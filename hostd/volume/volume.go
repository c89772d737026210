// Package volume is a host's volumes of Docker's local driver: a directory
// per volume under the data root, with its data and what inspect shows of
// it, found again when hostd restarts.
package volume

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
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

// Store is the host's local volumes. Each volume's directory holds
// its data (_data) and what inspect shows of it (volume.json), so a
// restarted hostd finds its volumes again, as dockerd does.
type Store struct {
	dir  string
	mu   sync.Mutex
	vols map[string]*Volume
}

// validVolumeName is the local driver's rule.
var validVolumeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// CheckName applies the local driver's rule for a volume's name.
func CheckName(name string) error {
	if !validVolumeName.MatchString(name) {
		return errdefs.BadRequest("%q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", name)
	}
	return nil
}

// Open reads the volumes under dir; the first Create makes dir.
func Open(dir string) (*Store, error) {
	s := &Store{dir: dir, vols: map[string]*Volume{}}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
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

// Create makes a volume, or returns the one of that name (Docker's
// create is idempotent); an empty name makes an anonymous volume.
func (s *Store) Create(name string, labels, opts map[string]string) (*Volume, error) {
	if name == "" {
		name = netimpl.NewID()
	} else if err := CheckName(name); err != nil {
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
		err = os.MkdirAll(s.dir, 0o700)
	}
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

func errNoSuch(name string) error { return errdefs.NotFound("get %s: no such volume", name) }

// Get finds a volume.
func (s *Store) Get(name string) (*Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vols[name]; ok {
		return v, nil
	}
	return nil, errNoSuch(name)
}

// Has says whether the volume exists.
func (s *Store) Has(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.vols[name]
	return ok
}

// List returns the volumes sorted by name.
func (s *Store) List() []*Volume {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Volume, 0, len(s.vols))
	for _, v := range s.vols {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Remove deletes a volume and its data; the caller checked it is unused.
func (s *Store) Remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.vols[name]; !ok {
		return errNoSuch(name)
	}
	if err := os.RemoveAll(filepath.Join(s.dir, name)); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	delete(s.vols, name)
	return nil
}
