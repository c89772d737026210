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
	"os"
	"path/filepath"
	"sort"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
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
	return withImageClient(ctx, socket, func(ctx context.Context, c *client.Client) error {
		r, err := c.ImageBuild(ctx, bytes.NewReader(body), client.ImageBuildOptions{Tags: im.Tags, Remove: true, ForceRemove: true})
		if err != nil {
			return err
		}
		defer r.Body.Close()
		return firstStreamError(r.Body)
	})
}

// saveImages is `docker save -o archive TAG...`; the archive appears
// whole or not at all.
func saveImages(ctx context.Context, socket string, tags []string, archive string) error {
	return withImageClient(ctx, socket, func(ctx context.Context, c *client.Client) error {
		r, err := c.ImageSave(ctx, tags)
		if err != nil {
			return err
		}
		defer r.Close()
		return writeWhole(archive, r)
	})
}

// writeWhole writes r to path through a temporary file beside it, renamed
// into place once complete.
func writeWhole(path string, r io.Reader) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if _, err = io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// loadImages is `docker load -i archive`.
func loadImages(ctx context.Context, socket, archive string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	return withImageClient(ctx, socket, func(ctx context.Context, c *client.Client) error {
		r, err := c.ImageLoad(ctx, f, client.ImageLoadWithQuiet(true))
		if err != nil {
			return err
		}
		defer r.Close()
		return firstStreamError(r)
	})
}

// withImageClient runs fn with a client of the daemon on socket and at
// most imageTimeout.
func withImageClient(ctx context.Context, socket string, fn func(context.Context, *client.Client) error) error {
	ctx, cancel := context.WithTimeout(ctx, imageTimeout)
	defer cancel()
	c, err := dockerClient(socket)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(ctx, c)
}

// firstStreamError reads the stream of JSON messages a build or a load
// answers with and returns the first error message in it, with the
// output before it.
func firstStreamError(r io.Reader) error {
	dec := json.NewDecoder(r)
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
	c, err := dockerClient(socket)
	if err != nil {
		return err
	}
	defer c.Close()
	list, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	done := make(chan error, len(list.Items))
	for _, ct := range list.Items {
		go func() {
			_, err := c.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !cerrdefs.IsNotFound(err) {
				err = fmt.Errorf("remove %.12s: %w", ct.ID, err)
			} else {
				err = nil
			}
			done <- err
		}()
	}
	var errs []error
	for range list.Items {
		if err := <-done; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
