package image

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultStore is the machine's image store: layers and image configs,
// shared by every lab and host (each host keeps only its list of images).
const DefaultStore = "/var/lib/nslab/images"

// StoreEnv names the variable that puts the store elsewhere (tests).
const StoreEnv = "NSLAB_IMAGE_STORE"

// StoreDir is $NSLAB_IMAGE_STORE when set, else DefaultStore.
func StoreDir() string {
	if d := os.Getenv(StoreEnv); d != "" {
		return d
	}
	return DefaultStore
}

// Store is the machine-wide store:
//
//	<dir>/layers/<hex>/layer.tar   the uncompressed layer, as it came (docker save writes it back)
//	<dir>/layers/<hex>/tree/       the layer unpacked: an overlayfs lower dir, read-only by convention
//	<dir>/layers/<hex>/layer.json  its diff ID and sizes
//	<dir>/configs/<hex>.json       image configs, by image ID
//	<dir>/tmp/                     what is being added; renamed into place whole
//	<dir>/default.json             per program that built the default image: the busybox it built from, the program, the image's ID
//	<dir>/lock                     shared by whoever adds or uses, exclusive for clean
//
// Several processes (every hostd of every lab, the lab itself) add to it at
// once: a layer is unpacked under tmp/ and renamed into place, so that a
// half-unpacked layer is never visible, and the first of two racing adders
// wins.
type Store struct {
	dir string
}

// ErrNotInStore is the kind of the error for a layer or config the store
// does not hold.
var ErrNotInStore = errors.New("not in the image store")

// ErrDiffID is the kind of the error for a layer whose content does not
// have the diff ID its image names.
var ErrDiffID = errors.New("invalid diffID")

// OpenStore opens the store at dir, making it when it is missing.
func OpenStore(dir string) (*Store, error) {
	for _, d := range []string{dir, filepath.Join(dir, "layers"), filepath.Join(dir, "configs"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	return &Store{dir: dir}, nil
}

// OpenShared opens the store at dir and takes its lock, shared: what is
// added meanwhile cannot be cleaned away before the caller has recorded
// that it uses it. release lets the lock go.
func OpenShared(dir string) (s *Store, release func(), err error) {
	if s, err = OpenStore(dir); err != nil {
		return nil, nil, err
	}
	if release, err = s.Lock(false); err != nil {
		return nil, nil, err
	}
	return s, release, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Lock takes the store's lock, shared (adding, using) or exclusive
// (removing), waiting for it; the returned function releases it.
func (s *Store) Lock(exclusive bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("image store: lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// LayerInfo describes one layer of the store.
type LayerInfo struct {
	DiffID string `json:"diffID"`
	// Size is the layer's size as Docker counts it: the sum of its tar
	// headers' sizes.
	Size int64 `json:"size"`
	// TarSize is the size of the uncompressed tar.
	TarSize int64 `json:"tarSize"`
}

func (s *Store) layerDir(diffID string) string {
	return filepath.Join(s.dir, "layers", strings.TrimPrefix(diffID, "sha256:"))
}

// LayerTree is the unpacked tree of a layer: an overlayfs lower dir.
func (s *Store) LayerTree(diffID string) string { return filepath.Join(s.layerDir(diffID), "tree") }

// LayerTar is the layer's uncompressed tar.
func (s *Store) LayerTar(diffID string) string { return filepath.Join(s.layerDir(diffID), "layer.tar") }

// Layer describes a layer of the store.
func (s *Store) Layer(diffID string) (LayerInfo, error) {
	if !ValidDigest(diffID) {
		return LayerInfo{}, fmt.Errorf("layer %q: not a sha256 digest", diffID)
	}
	b, err := os.ReadFile(filepath.Join(s.layerDir(diffID), "layer.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return LayerInfo{}, fmt.Errorf("layer %s: %w", diffID, ErrNotInStore)
	}
	if err != nil {
		return LayerInfo{}, fmt.Errorf("layer %s: %w", diffID, err)
	}
	var li LayerInfo
	if err := json.Unmarshal(b, &li); err != nil {
		return LayerInfo{}, fmt.Errorf("layer %s: %w", diffID, err)
	}
	return li, nil
}

// HasLayer reports whether the store holds the layer.
func (s *Store) HasLayer(diffID string) bool {
	_, err := s.Layer(diffID)
	return err == nil
}

// AddLayer unpacks the layer tar r (uncompressed, gzip or bzip2) into the
// store and keeps its uncompressed bytes. want, when not empty, is the
// diff ID the layer must have. A layer the store holds already is left as
// it is.
func (s *Store) AddLayer(r io.Reader, want string) (LayerInfo, error) {
	tmp, err := os.MkdirTemp(filepath.Join(s.dir, "tmp"), "layer-")
	if err != nil {
		return LayerInfo{}, fmt.Errorf("image store: %w", err)
	}
	defer os.RemoveAll(tmp)
	li, err := unpackInto(tmp, r)
	if err != nil {
		return LayerInfo{}, err
	}
	if want != "" && li.DiffID != want {
		return LayerInfo{}, fmt.Errorf("%w: expected %q, got %q", ErrDiffID, want, li.DiffID)
	}
	if s.HasLayer(li.DiffID) {
		return li, nil
	}
	if err := writeJSON(filepath.Join(tmp, "layer.json"), li); err != nil {
		return LayerInfo{}, err
	}
	if err := os.Rename(tmp, s.layerDir(li.DiffID)); err != nil && !s.HasLayer(li.DiffID) {
		return LayerInfo{}, fmt.Errorf("image store: layer %s: %w", li.DiffID, err)
	}
	return li, nil
}

// unpackInto writes the layer r as dir/layer.tar and dir/tree.
func unpackInto(dir string, r io.Reader) (LayerInfo, error) {
	r, err := decompress(r)
	if err != nil {
		return LayerInfo{}, err
	}
	tree := filepath.Join(dir, "tree")
	if err := os.Mkdir(tree, 0o755); err != nil {
		return LayerInfo{}, fmt.Errorf("image store: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "layer.tar"))
	if err != nil {
		return LayerInfo{}, fmt.Errorf("image store: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n := &counter{}
	tee := io.TeeReader(r, io.MultiWriter(f, h, n))
	size, err := Unpack(tree, tee)
	if err != nil {
		return LayerInfo{}, err
	}
	// The diff ID covers the whole stream, the tar's end blocks too.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return LayerInfo{}, fmt.Errorf("image store: reading the layer: %w", err)
	}
	if err := f.Close(); err != nil {
		return LayerInfo{}, fmt.Errorf("image store: %w", err)
	}
	return LayerInfo{DiffID: "sha256:" + hex.EncodeToString(h.Sum(nil)), Size: size, TarSize: n.n}, nil
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// decompress recognises a compressed layer as Docker's DecompressStream
// does, by its first bytes.
func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b, 0x08}):
		return gzip.NewReader(br)
	case bytes.HasPrefix(head, []byte("BZh")):
		return bzip2.NewReader(br), nil
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return nil, errors.New("image store: xz-compressed layers are not supported by nslab; use gzip or none")
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return nil, errors.New("image store: zstd-compressed layers are not supported by nslab; use gzip or none")
	}
	return br, nil
}

func (s *Store) configPath(id string) string {
	return filepath.Join(s.dir, "configs", strings.TrimPrefix(id, "sha256:")+".json")
}

// AddConfig stores an image config blob and returns its image ID. Its
// layers must be in the store already.
func (s *Store) AddConfig(raw []byte) (string, error) {
	c, err := ParseConfig(raw)
	if err != nil {
		return "", err
	}
	for _, d := range c.RootFS.DiffIDs {
		if !s.HasLayer(d) {
			return "", fmt.Errorf("image config: layer %s: %w", d, ErrNotInStore)
		}
	}
	id := Digest(raw)
	p := s.configPath(id)
	if _, err := os.Stat(p); err == nil {
		return id, nil
	}
	if err := writeFile(p, raw); err != nil {
		return "", fmt.Errorf("image store: %w", err)
	}
	return id, nil
}

// Image reads the image id from the store: its config and its layers.
func (s *Store) Image(id string) (*Image, error) {
	if !ValidDigest(id) {
		return nil, fmt.Errorf("image %q: not a sha256 digest", id)
	}
	raw, err := os.ReadFile(s.configPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("image %s: %w", id, ErrNotInStore)
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", id, err)
	}
	if Digest(raw) != id {
		return nil, fmt.Errorf("image %s: the stored config has another digest", id)
	}
	c, err := ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", id, err)
	}
	img := &Image{ID: id, Config: c, Raw: raw}
	for _, d := range c.RootFS.DiffIDs {
		li, err := s.Layer(d)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", id, err)
		}
		img.Layers = append(img.Layers, s.LayerTree(d))
		img.LayerSizes = append(img.LayerSizes, li.Size)
		img.Size += li.Size
	}
	return img, nil
}

// writeFile replaces path with b atomically: a reader sees all of it or
// the file before.
func writeFile(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeFile(path, b)
}

// StoredImage is an image config of the store.
type StoredImage struct {
	ID      string
	Created time.Time
	DiffIDs []string
}

// Contents lists the store's layers and images, sorted by ID.
func (s *Store) Contents() ([]LayerInfo, []StoredImage, error) {
	var layers []LayerInfo
	ents, err := os.ReadDir(filepath.Join(s.dir, "layers"))
	if err != nil {
		return nil, nil, fmt.Errorf("image store: %w", err)
	}
	for _, e := range ents {
		if li, err := s.Layer("sha256:" + e.Name()); err == nil {
			layers = append(layers, li)
		}
	}
	var images []StoredImage
	ents, err = os.ReadDir(filepath.Join(s.dir, "configs"))
	if err != nil {
		return nil, nil, fmt.Errorf("image store: %w", err)
	}
	for _, e := range ents {
		hex, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !validHex(hex) {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(s.dir, "configs", e.Name()))
		if err != nil {
			continue
		}
		c, err := ParseConfig(raw)
		if err != nil {
			continue
		}
		images = append(images, StoredImage{ID: "sha256:" + hex, Created: c.Created, DiffIDs: c.RootFS.DiffIDs})
	}
	return layers, images, nil
}

// Prune removes every image not in keep (image IDs) and every layer no
// kept image has, and whatever an adder that died left in tmp/. It
// returns what it removed. The caller holds the store's lock, exclusive.
func (s *Store) Prune(keep map[string]bool) (images []string, layers []LayerInfo, err error) {
	allLayers, allImages, err := s.Contents()
	if err != nil {
		return nil, nil, err
	}
	needed := map[string]bool{}
	for _, img := range allImages {
		if !keep[img.ID] {
			continue
		}
		for _, d := range img.DiffIDs {
			needed[d] = true
		}
	}
	var errs []error
	for _, img := range allImages {
		if keep[img.ID] {
			continue
		}
		if err := os.Remove(s.configPath(img.ID)); err != nil {
			errs = append(errs, err)
			continue
		}
		images = append(images, img.ID)
	}
	for _, li := range allLayers {
		if needed[li.DiffID] {
			continue
		}
		if err := os.RemoveAll(s.layerDir(li.DiffID)); err != nil {
			errs = append(errs, err)
			continue
		}
		layers = append(layers, li)
	}
	tmp, _ := os.ReadDir(filepath.Join(s.dir, "tmp"))
	for _, e := range tmp {
		if err := os.RemoveAll(filepath.Join(s.dir, "tmp", e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return images, layers, errors.Join(errs...)
}
