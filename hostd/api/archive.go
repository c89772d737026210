package api

import (
	"archive/tar"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"

	"github.com/nslab/nslab/hostd"

	"github.com/nslab/nslab/hostd/archive"
	"github.com/nslab/nslab/hostd/errdefs"
)

// archiveStat answers the stat of a cp path, in the header.
func archiveStat(w http.ResponseWriter, p, ref string) error {
	st, err := archive.StatPath(p)
	if errors.Is(err, fs.ErrNotExist) {
		return archive.ErrNoFile(p, ref)
	}
	if err != nil {
		return err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(b))
	return nil
}

// archiveRequest is what every archive route starts with: the container
// and the path, as Docker cleans it.
func (s *server) archiveRequest(r *http.Request) (*hostd.Container, string, error) {
	c, err := s.d.Container(r.PathValue("id"))
	if err != nil {
		return nil, "", err
	}
	p := r.FormValue("path")
	if p == "" {
		return nil, "", errdefs.BadRequest("Path cannot be empty")
	}
	return c, archive.ContainerPath(p), nil
}

// archiveHead is HEAD /containers/{id}/archive: the path's stat only.
func (s *server) archiveHead(w http.ResponseWriter, r *http.Request) error {
	return s.archive(w, r, false)
}

// archiveGet is GET /containers/{id}/archive (docker cp CONTAINER:PATH):
// the stat in the header, the path as a tar in the body.
func (s *server) archiveGet(w http.ResponseWriter, r *http.Request) error {
	return s.archive(w, r, true)
}

func (s *server) archive(w http.ResponseWriter, r *http.Request, body bool) error {
	c, p, err := s.archiveRequest(r)
	if err != nil {
		return err
	}
	return s.d.LockedView(c, hostd.ViewAll, func() error {
		if err := archiveStat(w, p, r.PathValue("id")); err != nil {
			return err
		}
		if !body {
			w.WriteHeader(http.StatusOK)
			return nil
		}
		s.d.ContainerEventUnlocked(c, "archive-path", nil)
		w.Header().Set("Content-Type", "application/x-tar")
		w.WriteHeader(http.StatusOK)
		tw := tar.NewWriter(w)
		if err := archive.TarPath(tw, p); err != nil {
			// The answer has begun: all that is left is to cut it short.
			s.log.Printf("container %s: archive %s: %v", s.d.NameOf(c), p, err)
			return nil
		}
		return tw.Close()
	})
}

// archivePut is PUT /containers/{id}/archive (docker cp SRC
// CONTAINER:PATH): the body, a tar, is extracted into the directory PATH.
func (s *server) archivePut(w http.ResponseWriter, r *http.Request) error {
	c, p, err := s.archiveRequest(r)
	if err != nil {
		return err
	}
	o := archive.UntarOptions{NoOverwriteDirNonDir: boolValue(r, "noOverwriteDirNonDir"), CopyUIDGID: boolValue(r, "copyUIDGID")}
	if err := s.d.WritableAt(c, p); err != nil {
		return err
	}
	err = s.d.LockedView(c, hostd.ViewAll, func() error {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return archive.ErrNoFile(p, r.PathValue("id"))
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return errdefs.Errorf(http.StatusInternalServerError, "extraction point is not a directory")
		}
		return archive.Untar(r.Body, p, o)
	})
	if err != nil {
		return err
	}
	s.d.ContainerEventUnlocked(c, "extract-to-dir", nil)
	w.WriteHeader(http.StatusOK)
	return nil
}

// containerExport is GET /containers/{id}/export: the root filesystem
// alone (no volume, bind or other mount), as a tar.
func (s *server) containerExport(w http.ResponseWriter, r *http.Request) error {
	c, err := s.d.Container(r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.d.LockedView(c, hostd.ViewRootfs, func() error {
		s.d.ContainerEventUnlocked(c, "export", nil)
		w.Header().Set("Content-Type", "application/x-tar")
		w.WriteHeader(http.StatusOK)
		tw := tar.NewWriter(w)
		if err := archive.ExportRoot(tw); err != nil {
			s.log.Printf("container %s: export: %v", s.d.NameOf(c), err)
			return nil
		}
		tw.Close()
		return nil
	})
}

// commit is POST /commit: hostd makes no image of a container.
func (s *server) commit(w http.ResponseWriter, r *http.Request) error {
	return errdefs.Errorf(http.StatusNotImplemented, "docker commit is not implemented by nslab's hostd: build the image with a real Docker and load it (docker load)")
}

// build is POST /build (docker build with the classic builder,
// docker-compose build): hostd has no builder. The build context is read
// to its end first, so that the client, still sending it, gets the answer
// rather than a broken pipe.
func (s *server) build(w http.ResponseWriter, r *http.Request) error {
	io.Copy(io.Discard, r.Body)
	return errdefs.Errorf(http.StatusNotImplemented, "docker build is not implemented by nslab's hostd: build the image with a real Docker, docker save it and docker load it here")
}
