package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nslab/nslab/hostd/image"
	"github.com/nslab/nslab/hostdconfig"
)

// DefaultDataRoot holds the labs' data roots, one directory per lab and
// in it one per docker host: <DefaultDataRoot>/<lab>/<host> is the host's
// hostd --data-root (its images and tags, its containers' own files).
// Each lab mounts a tmpfs of its own there (reserve), as dockerd's data
// root lies in the host's state directory, a tmpfs too.
const DefaultDataRoot = "/var/lib/nslab/labs"

// archives lists the `docker save` archives the lab's hosts start with,
// after the default image: the topology's, then Options.Images.
func (l *Lab) archives(o Options) []string {
	return append(append([]string{}, l.topo.Images...), o.Images...)
}

// storeImages puts the images the lab's hosts start with into the machine
// store, once for the whole lab (a 100-host lab hashes a tar once, not a
// hundred times): the default image, then every archive, in order. It
// returns them with their tags and keeps the store's lock (shared) until
// release is called, once every hostd has its repository.
func (l *Lab) storeImages(o Options) (imgs []image.Loaded, release func(), err error) {
	store, unlock, err := image.OpenShared(o.ImageStore)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			unlock()
		}
	}()
	def, err := store.EnsureDefault(image.DefaultSource{})
	if err != nil {
		return nil, nil, err
	}
	imgs = []image.Loaded{def}
	for _, a := range l.archives(o) {
		if err := loadArchiveFile(store, a, func(li image.Loaded) error { imgs = append(imgs, li); return nil }); err != nil {
			return nil, nil, fmt.Errorf("images: %s: %w", a, err)
		}
	}
	fmt.Fprintf(o.Progress, "images: %d in %s\n", len(imgs), store.Dir())
	return imgs, unlock, nil
}

func loadArchiveFile(store *image.Store, path string, loaded func(image.Loaded) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return store.LoadArchive(f, nil, loaded)
}

// defaultArchive is the default image as `docker save` writes it: the
// bytes every real dockerd of a lab loads, the same image hostd has.
func defaultArchive(o Options) ([]byte, error) {
	store, unlock, err := image.OpenShared(o.ImageStore)
	if err != nil {
		return nil, err
	}
	defer unlock()
	def, err := store.EnsureDefault(image.DefaultSource{})
	if err != nil {
		return nil, err
	}
	img, err := store.Image(def.ID)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := store.WriteArchive(&buf, []image.SaveItem{{Image: img, Tags: def.Tags}}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// loadDockerdImages gives every dockerd of the lab the default image and
// the lab's archives: `docker load`, never a pull.
func (l *Lab) loadDockerdImages(ctx context.Context, hosts []*Host, o Options) error {
	def, err := defaultArchive(o)
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	archives := l.archives(o)
	return forEach(ctx, hosts, o.daemonWorkers(), func(ctx context.Context, h *Host) error {
		if err := loadImages(ctx, h.socket, bytes.NewReader(def)); err != nil {
			return fmt.Errorf("host %s: load the default image: %w", h.Name, err)
		}
		for _, a := range archives {
			f, err := os.Open(a)
			if err != nil {
				return err
			}
			err = loadImages(ctx, h.socket, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("host %s: load %s: %w", h.Name, a, err)
			}
		}
		return nil
	})
}

// CheckArchive says whether path looks like a `docker save` archive: a
// file that reads as a tar (gzip-compressed or not). Its content is
// checked when it is loaded.
func CheckArchive(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	return image.CheckArchive(f)
}

// removeDataDir removes a lab's data directory. Anything still mounted
// below it (a container's root filesystem left by a hostd killed mid-way)
// is detached first: removing through a mount would reach into whatever
// is mounted there. Then its own tmpfs, with all the files in it at once
// (not there for a lab that crashed before mounting it).
func removeDataDir(dir string) error {
	if dir == "" {
		return nil
	}
	if err := unmountTree(dir); err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	if err := removeTree(dir); err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	return nil
}

// dataDir is where a lab's hosts keep their data roots.
func dataDir(dataRoot, id string) string {
	if dataRoot == "" {
		dataRoot = DefaultDataRoot
	}
	return filepath.Join(dataRoot, id)
}

// storeMarker names, in a lab's data directory, the image store its hosts
// use: a machine may hold several stores (tests make their own), and a
// lab's images are kept only in its own.
const storeMarker = "image-store"

func writeStoreMarker(dataDir, store string) error {
	abs, err := filepath.Abs(store)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dataDir, storeMarker), []byte(abs+"\n"), 0o644)
}

// usesStore says whether the lab whose data directory is dataDir uses the
// image store at store. A data directory without the marker (left behind
// half made) counts as using it: what it might need is kept.
func usesStore(dataDir, store string) bool {
	abs, err := filepath.Abs(store)
	if err != nil {
		return true
	}
	b, err := os.ReadFile(filepath.Join(dataDir, storeMarker))
	if err != nil {
		// A lab made before the marker existed used the machine's store.
		return abs == image.DefaultStore
	}
	return strings.TrimSpace(string(b)) == abs
}

// ImageUse says which hosts of which labs need which images of the image
// store at store: image ID → "lab/host", from the repositories in the
// data directories of the labs that use that store. It looks in
// DefaultDataRoot and in the data roots of the labs under root ("" for
// DefaultRoot), so that a lab of another state root keeps its images too.
// A host whose daemon has not started yet (Options.OnDemand) has no
// repository: what its hostd.json names counts for it.
func ImageUse(root, store string) (map[string][]string, error) {
	roots := map[string]bool{DefaultDataRoot: true}
	labs, err := List(root)
	if err != nil {
		return nil, err
	}
	root = stateRoot(root)
	use := map[string][]string{}
	for _, s := range labs {
		st, err := readState(filepath.Join(root, s.ID))
		if err != nil || st.DataDir == "" {
			continue
		}
		roots[filepath.Dir(st.DataDir)] = true
		if st.OnDemand && usesStore(st.DataDir, store) {
			configuredImages(filepath.Join(root, s.ID), use)
		}
	}
	for dr := range roots {
		repos, _ := filepath.Glob(filepath.Join(dr, "*", "*", "image", "repositories.json"))
		for _, p := range repos {
			host := filepath.Dir(filepath.Dir(p))
			if !usesStore(filepath.Dir(host), store) {
				continue
			}
			who := filepath.Base(filepath.Dir(host)) + "/" + filepath.Base(host)
			ids, err := image.ReadRepositoryIDs(p)
			if err != nil {
				return nil, err
			}
			for _, id := range ids {
				addUser(use, id, who)
			}
		}
	}
	return use, nil
}

// configuredImages adds to use the images of every hostd.json of the lab
// whose state directory is dir: what each host's hostd starts with.
func configuredImages(dir string, use map[string][]string) {
	cfgs, _ := filepath.Glob(filepath.Join(dir, "*", "hostd.json"))
	for _, p := range cfgs {
		cfg, err := hostdconfig.Load(p)
		if err != nil {
			continue
		}
		for _, img := range cfg.Images {
			addUser(use, img.ID, cfg.Lab+"/"+cfg.Host)
		}
	}
}

// addUser notes that host who uses image id, once.
func addUser(use map[string][]string, id, who string) {
	if !slices.Contains(use[id], who) {
		use[id] = append(use[id], who)
	}
}

// LabDataDirs lists the lab data directories of DefaultDataRoot and of the
// labs under root: each is a lab that exists, or one left behind.
func LabDataDirs(root string) ([]string, error) {
	dirs, _ := filepath.Glob(filepath.Join(DefaultDataRoot, "*"))
	labs, err := List(root)
	if err != nil {
		return nil, err
	}
	root = stateRoot(root)
	seen := map[string]bool{}
	for _, d := range dirs {
		seen[d] = true
	}
	for _, s := range labs {
		if st, err := readState(filepath.Join(root, s.ID)); err == nil && st.DataDir != "" && !seen[st.DataDir] {
			dirs = append(dirs, st.DataDir)
		}
	}
	return dirs, nil
}
