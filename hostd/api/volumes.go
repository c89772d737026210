package api

import (
	"net/http"
	"strings"

	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/events"
	"github.com/nslab/nslab/hostd/filters"
	"github.com/nslab/nslab/hostd/mount"
	"github.com/nslab/nslab/hostd/volume"
)

// volumeCreateRequest is the body of POST /volumes/create.
type volumeCreateRequest struct {
	Name       string
	Driver     string
	DriverOpts map[string]string
	Labels     map[string]string
}

func (s *server) volumeList(w http.ResponseWriter, r *http.Request) error {
	f, err := filters.Parse(r.FormValue("filters"), "dangling", "driver", "label", "name")
	if err != nil {
		return err
	}
	dangling, err := danglingFilter(f)
	if err != nil {
		return err
	}
	out := []*volume.Volume{}
	inUse := s.d.VolumesInUse()
	for _, v := range s.d.Volumes().List() {
		if dangling != nil && !inUse[v.Name] != *dangling {
			continue
		}
		if !f.Exact("driver", v.Driver) || !f.MatchLabels(v.Labels) || !matchSubstring(f, "name", v.Name) {
			continue
		}
		out = append(out, v)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"Volumes": out, "Warnings": nil})
}

// danglingFilter reads "dangling" (true or false, also 1 or 0).
func danglingFilter(f filters.Args) (*bool, error) {
	if !f.Has("dangling") {
		return nil, nil
	}
	var v bool
	for s := range f["dangling"] {
		switch strings.ToLower(s) {
		case "true", "1":
			v = true
		case "false", "0":
			v = false
		default:
			return nil, errdefs.BadRequest("Invalid filter 'dangling=%s'", s)
		}
	}
	return &v, nil
}

// matchSubstring is the volume filters' name rule: a value anywhere in
// the name.
func matchSubstring(f filters.Args, key, source string) bool {
	if !f.Has(key) {
		return true
	}
	for v := range f[key] {
		if strings.Contains(source, v) {
			return true
		}
	}
	return false
}

func (s *server) volumeCreate(w http.ResponseWriter, r *http.Request) error {
	var req volumeCreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := mount.CheckVolumeDriver(req.Driver); err != nil {
		return errdefs.WithPrefix(err, "create %s: ", req.Name)
	}
	if len(req.DriverOpts) > 0 {
		return errdefs.BadRequest("volume driver options (-o, --opt) are not supported by nslab's hostd: its local volumes are directories, without mount options")
	}
	v, err := s.d.Volumes().Create(req.Name, req.Labels, nil)
	if err != nil {
		return err
	}
	s.d.VolumeEvent(v.Name, "create", nil)
	return writeJSON(w, http.StatusCreated, v)
}

func (s *server) volumeInspect(w http.ResponseWriter, r *http.Request) error {
	v, err := s.d.Volumes().Get(r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *server) volumeDelete(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	existed := s.d.Volumes().Has(name)
	if err := s.d.RemoveVolume(name, boolValue(r, "force")); err != nil {
		return err
	}
	if existed {
		s.d.VolumeEvent(name, "destroy", nil)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// volumePrune removes every volume no container uses (API 1.41 prunes
// named volumes too), those with the label filters' labels.
func (s *server) volumePrune(w http.ResponseWriter, r *http.Request) error {
	f, err := filters.Parse(r.FormValue("filters"), "label", "label!")
	if err != nil {
		return err
	}
	deleted, reclaimed := s.d.PruneVolumes(func(v *volume.Volume) bool {
		return f.MatchLabels(v.Labels) && notLabels(f, v.Labels)
	})
	// dockerd logs no destroy for the volumes a prune removes.
	s.d.PruneEvent(events.Volume, reclaimed)
	return writeJSON(w, http.StatusOK, map[string]any{"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed})
}

// notLabels is the "label!" filter: none of its labels matches.
func notLabels(f filters.Args, labels map[string]string) bool {
	for v := range f["label!"] {
		k, want, hasValue := strings.Cut(v, "=")
		if got, ok := labels[k]; ok && (!hasValue || got == want) {
			return false
		}
	}
	return true
}
