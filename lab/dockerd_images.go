package lab

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Images is how the daemons of a dockerd lab get their images: built
// locally and loaded, never pulled (nothing may leave the lab).
type Images struct {
	// Archive is a `docker save` tar loaded into every daemon. When it does
	// not exist yet, Up builds Context on the lab's first daemon, saves the
	// result here and loads it into the others: a test run builds once.
	Archive string
	// Context is a build context directory holding a Dockerfile.
	Context string
	// Files are added to the build context: name in the context → file on
	// the machine (busybox-static's /bin/busybox, say).
	Files map[string]string
	// Tags name the built image ("alpine:latest", "busybox:latest").
	Tags []string
}

// imageTimeout bounds one build, save or load.
const imageTimeout = 2 * time.Minute

// loadImages gives every host the images of o.Images.
func (l *Lab) loadImages(ctx context.Context, hosts []*Host, o Options) error {
	im := o.Images
	if im.Archive == "" || len(hosts) == 0 {
		return nil
	}
	rest := hosts
	if _, err := os.Stat(im.Archive); errors.Is(err, fs.ErrNotExist) {
		if im.Context == "" {
			return fmt.Errorf("images: %s does not exist and no build context is given", im.Archive)
		}
		first := hosts[0]
		if err := buildImage(ctx, first.socket, im); err != nil {
			return fmt.Errorf("host %s: build %s: %w", first.Name, im.Context, err)
		}
		if err := saveImages(ctx, first.socket, im.Tags, im.Archive); err != nil {
			return fmt.Errorf("host %s: save images: %w", first.Name, err)
		}
		fmt.Fprintf(o.Progress, "images: built %v on %s, saved to %s\n", im.Tags, first.Name, im.Archive)
		rest = hosts[1:]
	} else if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	return forEach(ctx, rest, o.Parallel, func(ctx context.Context, h *Host) error {
		if err := loadImages(ctx, h.socket, im.Archive); err != nil {
			return fmt.Errorf("host %s: load %s: %w", h.Name, im.Archive, err)
		}
		return nil
	})
}

// buildImage is `DOCKER_BUILDKIT=0 docker build -t TAG...` through the
// Engine API: the classic builder, which every dockerd 20.10 has.
func buildImage(ctx context.Context, socket string, im Images) error {
	body, err := contextTar(im.Context, im.Files)
	if err != nil {
		return err
	}
	q := url.Values{"rm": {"1"}, "forcerm": {"1"}}
	for _, t := range im.Tags {
		q.Add("t", t)
	}
	return stream(ctx, socket, http.MethodPost, "/v1.41/build?"+q.Encode(), "application/x-tar", bytes.NewReader(body))
}

// saveImages is `docker save -o archive TAG...`; the archive appears
// whole or not at all.
func saveImages(ctx context.Context, socket string, tags []string, archive string) (err error) {
	ctx, cancel := context.WithTimeout(ctx, imageTimeout)
	defer cancel()
	q := url.Values{}
	for _, t := range tags {
		q.Add("names", t)
	}
	c := unixClient(socket)
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://dockerd/v1.41/images/get?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	if err := os.MkdirAll(filepath.Dir(archive), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(archive), filepath.Base(archive)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if _, err = io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), archive)
}

// loadImages is `docker load -i archive`.
func loadImages(ctx context.Context, socket, archive string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	return stream(ctx, socket, http.MethodPost, "/v1.41/images/load?quiet=1", "application/x-tar", f)
}

// stream sends a request whose answer is a stream of JSON messages (build,
// load) and returns the first error message in it.
func stream(ctx context.Context, socket, method, path, ctype string, body io.Reader) error {
	ctx, cancel := context.WithTimeout(ctx, imageTimeout)
	defer cancel()
	c := unixClient(socket)
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, method, "http://dockerd"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	dec := json.NewDecoder(resp.Body)
	var out bytes.Buffer
	for {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		out.WriteString(m.Stream)
		if m.Error != "" {
			return fmt.Errorf("%s\n%s", m.Error, out.String())
		}
	}
}

// contextTar packs a build context: the directory's files, then the
// extra files under their names.
func contextTar(dir string, files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name, path string, st fs.FileInfo) error {
		hdr, err := tar.FileInfoHeader(st, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(name)
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	}
	err := filepath.Walk(dir, func(path string, st fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		if !st.Mode().IsRegular() && !st.IsDir() {
			return nil
		}
		return add(rel, path, st)
	})
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		st, err := os.Stat(files[n])
		if err != nil {
			return nil, fmt.Errorf("build context: %s: %w", n, err)
		}
		if err := add(n, files[n], st); err != nil {
			return nil, fmt.Errorf("build context: %s: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// removeAllContainers is `docker rm -f $(docker ps -aq)`.
func removeAllContainers(ctx context.Context, socket string) error {
	c := unixClient(socket)
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://dockerd/v1.41/containers/json?all=1", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	var list []struct{ Id string }
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	var errs []error
	done := make(chan error, len(list))
	for _, ct := range list {
		go func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodDelete, "http://dockerd/v1.41/containers/"+url.PathEscape(ct.Id)+"?force=1&v=1", nil)
			if err != nil {
				done <- err
				return
			}
			resp, err := c.Do(req)
			if err != nil {
				done <- fmt.Errorf("remove %.12s: %w", ct.Id, err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 400 && resp.StatusCode != http.StatusNotFound {
				done <- fmt.Errorf("remove %.12s: %s", ct.Id, resp.Status)
				return
			}
			done <- nil
		}()
	}
	for range list {
		if err := <-done; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
