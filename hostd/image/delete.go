package image

import (
	"fmt"
	"sort"
	"strings"
)

// DeleteRecord is one line of docker rmi's answer: a reference untagged or
// an image or layer (by chain ID) deleted.
type DeleteRecord struct {
	Untagged string `json:",omitempty"`
	Deleted  string `json:",omitempty"`
}

// What stops a delete, as Docker's image_delete.go sorts it: a hard
// conflict even force does not override.
type conflictType int

const (
	conflictRunningContainer conflictType = 1 << iota
	conflictActiveReference
	conflictStoppedContainer
	conflictHard = conflictRunningContainer
	conflictSoft = conflictActiveReference | conflictStoppedContainer
)

// deleteConflict is Docker's imageDeleteConflict.
type deleteConflict struct {
	hard bool
	used bool
	id   string
	msg  string
}

func (c *deleteConflict) err() error {
	force := "must be forced"
	if c.hard {
		force = "cannot be forced"
	}
	return newError(ErrConflict, "conflict: unable to delete %s (%s) - %s", ShortID(c.id), force, c.msg)
}

// Delete is docker rmi (DELETE /images/{name}), step for step as Docker
// 20.10's ImageDelete: a tag is untagged, and the image goes with its last
// reference unless a container uses it (force deletes it all the same,
// but never under a running container); an ID removes every tag when they
// are all of one repository. prune is accepted as Docker accepts it: no
// image of hostd has a parent to prune.
func (r *Repository) Delete(ref string, force, prune bool, users Users) ([]DeleteRecord, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	img, err := r.resolve(ref)
	if err != nil {
		return nil, err
	}
	id := img.ID
	refs := r.refsOf(id)
	records := []DeleteRecord{}
	quiet := false
	if !isImageIDPrefix(id, ref) {
		if !force && isSingleReference(refs) {
			running, stopped := users.ImageUsers(id)
			if c := firstOf(running, stopped); c != "" {
				return nil, newError(ErrConflict, "conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s", ref, ShortID(c), ShortID(id))
			}
		}
		named, err := ParseNamed(ref)
		if err != nil {
			return nil, err
		}
		key := tagKey(named)
		delete(r.tags, key)
		records = append(records, DeleteRecord{Untagged: familiarKey(key)})
		if len(r.refsOf(id)) > 0 {
			return records, r.write()
		}
		quiet = true
	} else if isSingleReference(refs) {
		mask := conflictHard
		if !force {
			mask |= conflictSoft &^ conflictActiveReference
		}
		if c := r.conflict(id, mask, users); c != nil {
			return nil, c.err()
		}
		for _, n := range refs {
			delete(r.tags, n.String())
			records = append(records, DeleteRecord{Untagged: n.Familiar()})
		}
	}
	records, err = r.deleteImage(id, records, force, quiet, users)
	if werr := r.write(); err == nil {
		err = werr
	}
	return records, err
}

// deleteImage is Docker's imageDeleteHelper: the image goes with every
// reference left, unless a conflict stops it (quietly, after an untag,
// when the image keeps a use). Callers hold r.mu.
func (r *Repository) deleteImage(id string, records []DeleteRecord, force, quiet bool, users Users) ([]DeleteRecord, error) {
	mask := conflictHard
	if !force {
		mask |= conflictSoft
	}
	if c := r.conflict(id, mask, users); c != nil {
		if quiet && (len(r.refsOf(id)) > 0 || c.used) {
			return records, nil
		}
		return records, c.err()
	}
	for _, n := range r.refsOf(id) {
		delete(r.tags, n.String())
		records = append(records, DeleteRecord{Untagged: n.Familiar()})
	}
	img := r.images[id].img
	delete(r.images, id)
	records = append(records, DeleteRecord{Deleted: id})
	if running, stopped := users.ImageUsers(id); running != "" || stopped != "" {
		// The container keeps the layers, as its own layer keeps them in
		// Docker: nothing more is deleted.
		r.held[id] = img
		return records, nil
	}
	// The layers this host no longer needs, top first, as Docker's layer
	// store releases them.
	chains := ChainIDs(img.Config.RootFS.DiffIDs)
	for i := len(chains) - 1; i >= 0 && !r.chainUsed(chains[i]); i-- {
		records = append(records, DeleteRecord{Deleted: chains[i]})
	}
	return records, nil
}

// chainUsed reports whether an image of the host (held ones included)
// has the layer chain. Callers hold r.mu.
func (r *Repository) chainUsed(chain string) bool {
	uses := func(img *Image) bool {
		for _, c := range ChainIDs(img.Config.RootFS.DiffIDs) {
			if c == chain {
				return true
			}
		}
		return false
	}
	for _, e := range r.images {
		if uses(e.img) {
			return true
		}
	}
	for _, img := range r.held {
		if uses(img) {
			return true
		}
	}
	return false
}

// conflict is Docker's checkImageDeleteConflict. Callers hold r.mu.
func (r *Repository) conflict(id string, mask conflictType, users Users) *deleteConflict {
	running, stopped := users.ImageUsers(id)
	switch {
	case mask&conflictRunningContainer != 0 && running != "":
		return &deleteConflict{hard: true, used: true, id: id, msg: "image is being used by running container " + ShortID(running)}
	case mask&conflictActiveReference != 0 && len(r.refsOf(id)) > 0:
		return &deleteConflict{id: id, msg: "image is referenced in multiple repositories"}
	case mask&conflictStoppedContainer != 0 && stopped != "":
		return &deleteConflict{used: true, id: id, msg: "image is being used by stopped container " + ShortID(stopped)}
	}
	return nil
}

// isImageIDPrefix is Docker's: whether ref is a prefix of the ID, with or
// without "sha256:".
func isImageIDPrefix(id, ref string) bool {
	return strings.HasPrefix(id, ref) || strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), ref)
}

// isSingleReference is Docker's: all references of one repository and at
// most one tag. False for none.
func isSingleReference(refs []Ref) bool {
	if len(refs) <= 1 {
		return len(refs) == 1
	}
	var single *Ref
	canonical := map[string]bool{}
	for i, n := range refs {
		if n.Digest != "" {
			canonical[n.Name()] = true
		} else if single == nil {
			single = &refs[i]
		} else {
			return false
		}
	}
	if single == nil {
		single = &refs[0]
	}
	return len(canonical) == 1 && canonical[single.Name()]
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// familiarKey is a key of r.tags in its familiar form.
func familiarKey(key string) string {
	n, err := ParseNamed(key)
	if err != nil {
		return key
	}
	return n.Familiar()
}

// SaveItems resolves docker save's names as Docker's tarexporter does: a
// tagged reference saves that tag, a bare name every tag of its
// repository (or the image with that ID prefix), an ID the image without
// tags.
func (r *Repository) SaveItems(names []string) ([]SaveItem, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var items []SaveItem
	index := map[string]int{}
	add := func(id string, tag string) {
		i, ok := index[id]
		if !ok {
			i = len(items)
			index[id] = i
			items = append(items, SaveItem{Image: r.images[id].img})
		}
		if tag == "" {
			return
		}
		for _, t := range items[i].Tags {
			if t == tag {
				return
			}
		}
		items[i].Tags = append(items[i].Tags, tag)
	}
	for _, name := range names {
		if err := r.saveName(name, add); err != nil {
			return nil, err
		}
	}
	return items, nil
}

// saveName resolves one name of docker save. Callers hold r.mu.
func (r *Repository) saveName(name string, add func(id, tag string)) error {
	ref, err := ParseAny(name)
	if err != nil {
		// Docker answers these with a server error (500).
		return fmt.Errorf("%s", err.Error())
	}
	if ref.IsID() {
		if r.images[ref.Digest] == nil {
			return newError(ErrNotFound, "No such image: %s", name)
		}
		add(ref.Digest, "")
		return nil
	}
	if ref.NameOnly() {
		found := false
		keys := make([]string, 0, len(r.tags))
		for key := range r.tags {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			n, err := ParseNamed(key)
			if err != nil || n.Name() != ref.Name() {
				continue
			}
			found = true
			add(r.tags[key], n.Familiar())
		}
		if found {
			return nil
		}
		id, ok := r.searchID(name)
		if !ok {
			return newError(ErrNotFound, "No such image: %s", name)
		}
		add(id, "")
		return nil
	}
	id, ok := r.tags[tagKey(ref)]
	if !ok {
		return newError(ErrNotFound, "reference does not exist")
	}
	tag := ""
	if ref.Digest == "" {
		tag = ref.Familiar()
	}
	add(id, tag)
	return nil
}
