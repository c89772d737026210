package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Users tells a repository which containers of its host use an image:
// docker rmi refuses to delete what a container uses.
type Users interface {
	// ImageUsers returns the ID of a running and of a stopped container
	// created from the image id, "" where there is none.
	ImageUsers(id string) (running, stopped string)
}

// Repository is one host's images and tags, as one dockerd keeps them:
// docker rmi on one host leaves the others' alone. It lives in the host's
// data root and outlives a restart of hostd; the layers and configs are
// the machine store's.
type Repository struct {
	store *Store
	path  string

	mu     sync.Mutex
	images map[string]*entry
	// tags maps a full tagged reference ("docker.io/library/alpine:latest")
	// to an image ID.
	tags map[string]string
	// held are images deleted while a container still uses them: their
	// layers must stay in the store until it is gone.
	held map[string]*Image
}

type entry struct {
	img     *Image
	lastTag time.Time
}

// repoFile is the repository on disk.
type repoFile struct {
	Images map[string]repoImage `json:"images"`
	Held   []string             `json:"held,omitempty"`
}

type repoImage struct {
	Tags        []string  `json:"tags"`
	LastTagTime time.Time `json:"lastTagTime,omitzero"`
}

// RepositoryFile is where a host with data root dir keeps its repository.
func RepositoryFile(dataRoot string) string {
	return filepath.Join(dataRoot, "image", "repositories.json")
}

// OpenRepository reads the repository at path. Without one (a host's first
// start) it starts with the images of initial, tagged in order as docker
// load tags them, and writes it.
func OpenRepository(store *Store, path string, initial []Loaded) (*Repository, error) {
	r := &Repository{store: store, path: path, images: map[string]*entry{}, tags: map[string]string{}, held: map[string]*Image{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		for _, l := range initial {
			if _, err := r.addLoaded(l); err != nil {
				return nil, err
			}
		}
		return r, r.write()
	}
	if err != nil {
		return nil, fmt.Errorf("image repository: %w", err)
	}
	var f repoFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("image repository %s: %w", path, err)
	}
	for id, ri := range f.Images {
		img, err := store.Image(id)
		if err != nil {
			return nil, fmt.Errorf("image repository %s: %w", path, err)
		}
		r.images[id] = &entry{img: img, lastTag: ri.LastTagTime}
		for _, t := range ri.Tags {
			named, err := ParseNamed(t)
			if err != nil {
				return nil, fmt.Errorf("image repository %s: %w", path, err)
			}
			r.tags[named.String()] = id
		}
	}
	for _, id := range f.Held {
		if img, err := store.Image(id); err == nil {
			r.held[id] = img
		}
	}
	return r, nil
}

// ReadRepositoryIDs lists the images a repository file names, the held
// ones included: what the host needs of the machine store.
func ReadRepositoryIDs(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f repoFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ids := append([]string{}, f.Held...)
	for id := range f.Images {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// write stores the repository. Callers hold r.mu (or own r alone).
func (r *Repository) write() error {
	f := repoFile{Images: map[string]repoImage{}}
	for id, e := range r.images {
		f.Images[id] = repoImage{Tags: r.tagsOf(id), LastTagTime: e.lastTag}
	}
	for id := range r.held {
		f.Held = append(f.Held, id)
	}
	sort.Strings(f.Held)
	if err := os.MkdirAll(filepath.Dir(r.path), 0o700); err != nil {
		return fmt.Errorf("image repository: %w", err)
	}
	if err := writeJSON(r.path, f); err != nil {
		return fmt.Errorf("image repository: %w", err)
	}
	return nil
}

// refsOf lists the references of an image, sorted as Docker sorts them
// (by their full form). Callers hold r.mu.
func (r *Repository) refsOf(id string) []Ref {
	var out []Ref
	for s, tid := range r.tags {
		if tid != id {
			continue
		}
		if n, err := ParseNamed(s); err == nil {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// tagsOf lists an image's tags in their familiar form. Callers hold r.mu.
func (r *Repository) tagsOf(id string) []string {
	var out []string
	for _, n := range r.refsOf(id) {
		out = append(out, n.Familiar())
	}
	return out
}

// Entry is one image of a host with its tags.
type Entry struct {
	Image *Image
	// Tags are familiar ("alpine:latest"), in Docker's order.
	Tags        []string
	LastTagTime time.Time
}

// List returns every image of the host, untagged ones included.
func (r *Repository) List() []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Entry, 0, len(r.images))
	for id, e := range r.images {
		out = append(out, Entry{Image: e.img, Tags: r.tagsOf(id), LastTagTime: e.lastTag})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Image.ID < out[j].Image.ID })
	return out
}

// Len is the number of images of the host (docker info's Images).
func (r *Repository) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.images)
}

// Lookup returns an image and its tags by reference or ID (Resolve).
func (r *Repository) Lookup(refOrID string) (Entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	img, err := r.resolve(refOrID)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Image: img, Tags: r.tagsOf(img.ID), LastTagTime: r.images[img.ID].lastTag}, nil
}

// Resolve finds an image as Docker's GetImage does: an image ID (with or
// without "sha256:"), a tag ("alpine" is docker.io/library/alpine:latest),
// then a unique prefix of an image ID. Its errors say "No such image:
// redis:latest" (ErrNotFound) or why the reference is invalid (ErrInvalid).
func (r *Repository) Resolve(refOrID string) (*Image, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.resolve(refOrID)
}

func (r *Repository) resolve(refOrID string) (*Image, error) {
	ref, err := ParseAny(refOrID)
	if err != nil {
		return nil, err
	}
	if ref.IsID() {
		if e := r.images[ref.Digest]; e != nil {
			return e.img, nil
		}
		return nil, errNoSuchImage(ref)
	}
	if id, ok := r.tags[tagKey(ref)]; ok {
		return r.images[id].img, nil
	}
	if id, ok := r.searchID(refOrID); ok {
		return r.images[id].img, nil
	}
	return nil, errNoSuchImage(ref)
}

// tagKey is the key of a reference in r.tags: with its default tag; a
// reference with a digest keeps only the digest, as Docker looks it up.
func tagKey(n Ref) string {
	if n.Digest != "" {
		n.Tag = ""
	}
	return n.WithDefaultTag().String()
}

// searchID finds the one image whose ID starts with term ("sha256:" may
// lead). Callers hold r.mu.
func (r *Repository) searchID(term string) (string, bool) {
	hex := strings.TrimPrefix(term, "sha256:")
	if hex == "" || len(hex) > 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return "", false
	}
	found := ""
	for id := range r.images {
		if strings.HasPrefix(id, "sha256:"+hex) {
			if found != "" {
				return "", false // ambiguous
			}
			found = id
		}
	}
	return found, found != ""
}

// Tag is docker tag (POST /images/{name}/tag): repo, and tag when given,
// name the new reference of the image src. It returns the reference in its
// familiar form.
func (r *Repository) Tag(src, repo, tag string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	img, err := r.resolve(src)
	if err != nil {
		return "", err
	}
	// Docker answers a bad new name with a server error (500): no kind.
	named, err := ParseNamed(repo)
	if err != nil {
		return "", errors.New(err.Error())
	}
	if tag != "" {
		if named, err = WithTag(named, tag); err != nil {
			return "", errors.New(err.Error())
		}
	}
	if err := r.addTag(named, img.ID); err != nil {
		return "", err
	}
	r.images[img.ID].lastTag = time.Now().UTC()
	return named.Familiar(), r.write()
}

// addTag points a reference at an image, taking it from another image if
// it named one (that one then has one tag less). Callers hold r.mu.
func (r *Repository) addTag(n Ref, id string) error {
	if n.Digest != "" {
		return newError(ErrInvalid, "refusing to create a tag with a digest reference")
	}
	r.tags[n.WithDefaultTag().String()] = id
	return nil
}

// addLoaded adds one image of an archive with its tags and returns what
// docker load says beyond "Loaded image": that a tag moved. Callers hold
// r.mu (or own r alone).
func (r *Repository) addLoaded(l Loaded) ([]string, error) {
	img, err := r.store.Image(l.ID)
	if err != nil {
		return nil, err
	}
	if r.images[l.ID] == nil {
		r.images[l.ID] = &entry{img: img}
	}
	delete(r.held, l.ID)
	var msgs []string
	for _, t := range l.Tags {
		named, err := ParseNamed(t)
		if err != nil {
			return msgs, err
		}
		if prev, ok := r.tags[named.WithDefaultTag().String()]; ok && prev != l.ID {
			msgs = append(msgs, fmt.Sprintf("The image %s already exists, renaming the old one with ID %s to empty string", named.Familiar(), prev))
		}
		if err := r.addTag(named, l.ID); err != nil {
			return msgs, err
		}
	}
	return msgs, nil
}

// AddLoaded adds an image of a loaded archive with its tags (see
// Store.LoadArchive) and returns the notes docker load prints about tags
// that moved from another image.
func (r *Repository) AddLoaded(l Loaded) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msgs, err := r.addLoaded(l)
	if werr := r.write(); err == nil {
		err = werr
	}
	return msgs, err
}

// Release forgets the held images no container uses any more.
func (r *Repository) Release(users Users) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for id := range r.held {
		if running, stopped := users.ImageUsers(id); running == "" && stopped == "" {
			delete(r.held, id)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return r.write()
}
