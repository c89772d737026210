package image

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// The files of Docker's save format (image/tarexport of Docker 20.10).
const (
	manifestFile     = "manifest.json"
	repositoriesFile = "repositories"
	legacyLayerFile  = "layer.tar"
	legacyConfigFile = "json"
	legacyVersion    = "VERSION"
)

// manifestItem is one image of manifest.json.
type manifestItem struct {
	Config       string
	RepoTags     []string
	Layers       []string
	Parent       string          `json:",omitempty"`
	LayerSources json.RawMessage `json:",omitempty"`
}

// msgBadArchive is Docker's word for an archive it cannot read.
const msgBadArchive = "Error processing tar file(exit status 1)"

// ErrNoManifest is the error for an archive without manifest.json: the
// format of Docker before 1.10, which nslab does not read.
var ErrNoManifest = errors.New("the archive has no manifest.json (nslab reads the format docker save writes since Docker 1.10)")

// Loaded is one image of an archive, now in the store.
type Loaded struct {
	ID string `json:"id"`
	// Tags are the archive's tags of the image, in Docker's familiar form
	// ("alpine:latest", "registry:5000/team/app:1").
	Tags []string `json:"tags,omitempty"`
}

// LoadProgress hears of every layer the store did not hold yet, as
// docker load reports "Loading layer": the first 12 hex digits of its
// diff ID and the size of its tar.
type LoadProgress func(shortDiffID string, size int64)

// LoadArchive adds the images of a `docker save` archive (possibly
// compressed) to the store and calls loaded for each, in the archive's
// order. A layer the store holds already is not read again. The caller
// holds the store's lock (shared).
func (s *Store) LoadArchive(r io.Reader, progress LoadProgress, loaded func(Loaded) error) error {
	r, err := decompress(r)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.dir, "tmp"), "load-")
	if err != nil {
		return fmt.Errorf("image store: %w", err)
	}
	defer os.RemoveAll(tmp)
	// The archive is a user's: it is unpacked as carefully as a layer.
	if _, err := Unpack(tmp, r); err != nil {
		var ue *UnpackError
		if errors.As(err, &ue) && ue.Name == "" {
			return fmt.Errorf("%s: %w", msgBadArchive, ue.Err)
		}
		return err
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	root, err := unix.Open(tmp, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	mf, err := openIn(root, manifestFile)
	if errors.Is(err, unix.ENOENT) {
		return ErrNoManifest
	}
	if err != nil {
		return err
	}
	var manifest []manifestItem
	err = json.NewDecoder(mf).Decode(&manifest)
	mf.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", manifestFile, err)
	}
	for _, m := range manifest {
		l, err := s.loadItem(root, m, progress)
		if err != nil {
			return err
		}
		if err := loaded(l); err != nil {
			return err
		}
	}
	return nil
}

// loadItem adds one image of an unpacked archive to the store.
func (s *Store) loadItem(root int, m manifestItem, progress LoadProgress) (Loaded, error) {
	raw, err := readIn(root, m.Config)
	if err != nil {
		return Loaded{}, err
	}
	c, err := ParseConfig(raw)
	if err != nil {
		return Loaded{}, err
	}
	if c.OS != "" && c.OS != runtime.GOOS {
		return Loaded{}, fmt.Errorf("cannot load %s image on %s", c.OS, runtime.GOOS)
	}
	if expected, actual := len(m.Layers), len(c.RootFS.DiffIDs); expected != actual {
		return Loaded{}, fmt.Errorf("invalid manifest, layers length mismatch: expected %d, got %d", expected, actual)
	}
	var l Loaded
	for _, t := range m.RepoTags {
		named, err := ParseNamed(t)
		if err != nil {
			return Loaded{}, err
		}
		if named.Tag == "" || named.Digest != "" {
			return Loaded{}, fmt.Errorf("invalid tag %q", t)
		}
		l.Tags = append(l.Tags, named.Familiar())
	}
	for i, diffID := range c.RootFS.DiffIDs {
		if s.HasLayer(diffID) {
			continue
		}
		f, err := openIn(root, m.Layers[i])
		if err != nil {
			return Loaded{}, err
		}
		li, err := s.AddLayer(f, diffID)
		f.Close()
		if errors.Is(err, ErrDiffID) {
			return Loaded{}, fmt.Errorf("invalid diffID for layer %d: %w", i, err)
		}
		if err != nil {
			return Loaded{}, err
		}
		if progress != nil {
			progress(ShortID(diffID), li.TarSize)
		}
	}
	id, err := s.AddConfig(raw)
	if err != nil {
		return Loaded{}, err
	}
	l.ID = id
	return l, nil
}

// CheckArchive reads the start of r as an archive, compressed or not: a
// tar whose first header decodes.
func CheckArchive(r io.Reader) error {
	r, err := decompress(r)
	if err != nil {
		return err
	}
	if _, err := tar.NewReader(r).Next(); err != nil {
		return fmt.Errorf("not a tar archive: %w", err)
	}
	return nil
}

// openIn opens the file rel of the directory root, resolving it (symlinks
// of the archive included) inside root, as Docker's safePath does.
func openIn(root int, rel string) (*os.File, error) {
	fd, err := unix.Openat2(root, rel, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", rel, err)
	}
	return os.NewFile(uintptr(fd), rel), nil
}

func readIn(root int, rel string) ([]byte, error) {
	f, err := openIn(root, rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// SaveItem is one image to save with the tags it is saved under.
type SaveItem struct {
	Image *Image
	Tags  []string // familiar, tagged references
}

// archiveEntry is one file of an archive being written.
type archiveEntry struct {
	name    string
	dir     bool
	data    []byte
	file    string // a file of the store, copied
	symlink string
	mtime   time.Time
}

// WriteArchive writes images in the format `docker save` of Docker 20.10
// writes: per layer a directory named by its legacy ID holding VERSION,
// json and layer.tar (the stored bytes, so the diff IDs hold), the configs
// as <id>.json, manifest.json and repositories, in the order Docker's
// directory walk gives them.
func (s *Store) WriteArchive(w io.Writer, items []SaveItem) error {
	entries := map[string]archiveEntry{}
	repos := map[string]map[string]string{}
	diffPaths := map[string]string{}
	manifest := []manifestItem{}
	for _, it := range items {
		img := it.Image
		v1IDs, err := s.addLayerEntries(entries, diffPaths, img)
		if err != nil {
			return err
		}
		cfgName := strings.TrimPrefix(img.ID, "sha256:") + ".json"
		entries[cfgName] = archiveEntry{name: cfgName, data: img.Raw, mtime: img.Config.Created}
		m := manifestItem{Config: cfgName, RepoTags: nil}
		for _, t := range it.Tags {
			tagged, err := ParseNamed(t)
			if err != nil {
				return err
			}
			if tagged.Tag == "" || tagged.Digest != "" {
				continue
			}
			name := tagged.FamiliarName()
			if repos[name] == nil {
				repos[name] = map[string]string{}
			}
			repos[name][tagged.Tag] = v1IDs[len(v1IDs)-1]
			m.RepoTags = append(m.RepoTags, tagged.Familiar())
		}
		for _, id := range v1IDs {
			m.Layers = append(m.Layers, path.Join(id, legacyLayerFile))
		}
		manifest = append(manifest, m)
	}
	epoch := time.Unix(0, 0)
	if len(repos) > 0 {
		entries[repositoriesFile] = archiveEntry{name: repositoriesFile, data: jsonLine(repos), mtime: epoch}
	}
	entries[manifestFile] = archiveEntry{name: manifestFile, data: jsonLine(manifest), mtime: epoch}
	return writeEntries(w, entries)
}

// addLayerEntries adds the legacy layer directories of img and returns
// their IDs, lowest first.
func (s *Store) addLayerEntries(entries map[string]archiveEntry, diffPaths map[string]string, img *Image) ([]string, error) {
	c := img.Config
	if c.RootFS == nil || len(c.RootFS.DiffIDs) == 0 {
		return nil, errors.New("empty export - not implemented")
	}
	chains := ChainIDs(c.RootFS.DiffIDs)
	var ids []string
	parent := ""
	for i, diffID := range c.RootFS.DiffIDs {
		// Docker's legacy IDs: the image's own legacy fields for the top
		// layer, a bare one created at the epoch below it.
		v1 := V1Image{Created: time.Unix(0, 0).UTC()}
		if i == len(c.RootFS.DiffIDs)-1 {
			v1 = c.V1Image
		}
		id, err := v1ID(v1, chains[i], parent)
		if err != nil {
			return nil, err
		}
		v1.ID = id
		v1.Parent = strings.TrimPrefix(parent, "sha256:")
		v1.OS = c.OS
		ids = append(ids, id)
		parent = "sha256:" + id
		if _, done := entries[id+"/"]; done {
			continue
		}
		js, err := json.Marshal(v1)
		if err != nil {
			return nil, err
		}
		t := c.Created
		entries[id+"/"] = archiveEntry{name: id + "/", dir: true, mtime: t}
		entries[id+"/"+legacyVersion] = archiveEntry{name: id + "/" + legacyVersion, data: []byte("1.0"), mtime: t}
		entries[id+"/"+legacyConfigFile] = archiveEntry{name: id + "/" + legacyConfigFile, data: js, mtime: t}
		layer := archiveEntry{name: id + "/" + legacyLayerFile, file: s.LayerTar(diffID), mtime: t}
		if other, ok := diffPaths[diffID]; ok {
			// A layer saved once already: a link to it, as Docker writes.
			layer = archiveEntry{name: layer.name, symlink: "../" + other, mtime: t}
		} else {
			diffPaths[diffID] = layer.name
		}
		entries[layer.name] = layer
	}
	return ids, nil
}

// v1ID is Docker's v1.CreateID: the digest of the legacy JSON with the
// layer's chain ID and the parent's legacy ID, keys sorted.
func v1ID(v1 V1Image, chainID, parent string) (string, error) {
	v1.ID = ""
	b, err := json.Marshal(v1)
	if err != nil {
		return "", err
	}
	var m map[string]*json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return "", err
	}
	m["layer_id"] = rawJSON(chainID)
	if parent != "" {
		m["parent"] = rawJSON(parent)
	}
	b, err = json.Marshal(m)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func rawJSON(v string) *json.RawMessage {
	b, _ := json.Marshal(v)
	r := json.RawMessage(b)
	return &r
}

// jsonLine is v as json.Encoder writes it: with a newline.
func jsonLine(v any) []byte {
	b, _ := json.Marshal(v)
	return append(b, '\n')
}

// writeEntries writes the archive in the order of a directory walk:
// names sorted, a directory's files right after it.
func writeEntries(w io.Writer, entries map[string]archiveEntry) error {
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return walkLess(names[i], names[j]) })
	tw := tar.NewWriter(w)
	for _, n := range names {
		if err := writeEntry(tw, entries[n]); err != nil {
			return err
		}
	}
	return tw.Close()
}

// walkLess orders paths as filepath.Walk visits them: component by
// component, so that "a/" and everything in it come before "a.json".
func walkLess(a, b string) bool {
	ac := strings.Split(strings.TrimSuffix(a, "/"), "/")
	bc := strings.Split(strings.TrimSuffix(b, "/"), "/")
	for i := 0; i < len(ac) && i < len(bc); i++ {
		if ac[i] != bc[i] {
			return ac[i] < bc[i]
		}
	}
	return len(ac) < len(bc)
}

func writeEntry(tw *tar.Writer, e archiveEntry) error {
	// As Docker's archive.Tar writes them: root's, the mode with the file
	// type's bits (c_ISREG, c_ISDIR, c_ISLNK), as Go's FileInfoHeader gives.
	hdr := &tar.Header{Name: e.name, Mode: 0o100644, ModTime: e.mtime, Typeflag: tar.TypeReg, Uname: "root", Gname: "root"}
	var src *os.File
	switch {
	case e.dir:
		hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o40755
	case e.symlink != "":
		hdr.Typeflag, hdr.Mode, hdr.Linkname = tar.TypeSymlink, 0o120777, e.symlink
	case e.file != "":
		f, err := os.Open(e.file)
		if err != nil {
			return fmt.Errorf("save: %w", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		hdr.Size, src = st.Size(), f
	default:
		hdr.Size = int64(len(e.data))
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if src != nil {
		_, err := io.Copy(tw, src)
		return err
	}
	_, err := tw.Write(e.data)
	return err
}
