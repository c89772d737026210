package image

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeUsers says which containers use which image.
type fakeUsers map[string][2]string

func (f fakeUsers) ImageUsers(id string) (string, string) { return f[id][0], f[id][1] }

// repoWith makes a store with one small image and a repository of one
// host holding it as tags.
func repoWith(t *testing.T, tags ...string) (*Repository, string) {
	t.Helper()
	needRoot(t)
	s := newStore(t)
	l := layerTar(t, reg("f", "content"))
	if _, err := s.AddLayer(bytes.NewReader(l), ""); err != nil {
		t.Fatal(err)
	}
	id, err := s.AddConfig([]byte(`{"os":"linux","config":{"Cmd":["/f"]},"rootfs":{"type":"layers","diff_ids":["` + Digest(l) + `"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenRepository(s, RepositoryFile(filepath.Join(t.TempDir(), "data")), []Loaded{{ID: id, Tags: tags}})
	if err != nil {
		t.Fatal(err)
	}
	return r, id
}

func records(rs []DeleteRecord) string {
	var out []string
	for _, r := range rs {
		if r.Untagged != "" {
			out = append(out, "untagged "+r.Untagged)
		} else {
			out = append(out, "deleted "+ShortID(r.Deleted))
		}
	}
	return strings.Join(out, ", ")
}

func TestRepositoryResolve(t *testing.T) {
	r, id := repoWith(t, "alpine:latest", "team/app:1")
	for _, ref := range []string{"alpine", "alpine:latest", "docker.io/library/alpine", "team/app:1", id, id[7:], id[7:19], id[:15]} {
		if img, err := r.Resolve(ref); err != nil || img.ID != id {
			t.Errorf("%s: %v", ref, err)
		}
	}
	for ref, want := range map[string]string{
		"redis":                             "No such image: redis:latest",
		"team/app":                          "No such image: team/app:latest",
		"alpine:3":                          "No such image: alpine:3",
		"sha256:" + strings.Repeat("0", 64): "No such image: sha256:" + strings.Repeat("0", 64),
	} {
		if _, err := r.Resolve(ref); !errors.Is(err, ErrNotFound) || err.Error() != want {
			t.Errorf("%s: %v, want %q", ref, err, want)
		}
	}
	if _, err := r.Resolve("Redis"); !errors.Is(err, ErrInvalid) || err.Error() != "invalid reference format: repository name must be lowercase" {
		t.Errorf("Redis: %v", err)
	}
}

// TestRepositoryDelete walks docker rmi's rules as observed on Docker
// 20.10: untag while other tags remain, conflicts with containers, force.
func TestRepositoryDelete(t *testing.T) {
	r, id := repoWith(t, "alpine:latest", "busybox:latest", "mine/x:1")
	short := ShortID(id)
	users := fakeUsers{}
	rm := func(ref string, force bool) string {
		t.Helper()
		rs, err := r.Delete(ref, force, true, users)
		if err != nil {
			return "error " + err.Error()
		}
		return records(rs)
	}
	if got := rm("mine/x:1", false); got != "untagged mine/x:1" {
		t.Errorf("rmi mine/x:1: %s", got)
	}
	if got := rm(short, false); got != "error conflict: unable to delete "+short+" (must be forced) - image is referenced in multiple repositories" {
		t.Errorf("rmi by id: %s", got)
	}
	users[id] = [2]string{"c52de8dea35b16d3", ""}
	if got := rm(short, true); got != "error conflict: unable to delete "+short+" (cannot be forced) - image is being used by running container c52de8dea35b" {
		t.Errorf("rmi -f by id, running: %s", got)
	}
	if got := rm("alpine", false); got != "untagged alpine:latest" {
		t.Errorf("rmi alpine: %s", got)
	}
	if got := rm("busybox", false); got != `error conflict: unable to remove repository reference "busybox" (must force) - container c52de8dea35b is using its referenced image `+short {
		t.Errorf("rmi busybox, last tag, used: %s", got)
	}
	users[id] = [2]string{"", "63842b0efc96cd40"}
	if got := rm(short, false); got != "error conflict: unable to delete "+short+" (must be forced) - image is being used by stopped container 63842b0efc96" {
		t.Errorf("rmi by id, stopped: %s", got)
	}
	// Forced, under a stopped container: untagged and deleted, its layers
	// held for the container.
	if got := rm("busybox", true); got != "untagged busybox:latest, deleted "+short {
		t.Errorf("rmi -f busybox: %s", got)
	}
	if r.Len() != 0 || len(r.held) != 1 {
		t.Errorf("images %d, held %d", r.Len(), len(r.held))
	}
	ids, err := ReadRepositoryIDs(r.path)
	if err != nil || !reflect.DeepEqual(ids, []string{id}) {
		t.Errorf("the file names %v (%v), want the held image", ids, err)
	}
	delete(users, id)
	if err := r.Release(users); err != nil || len(r.held) != 0 {
		t.Errorf("release: %v, held %d", err, len(r.held))
	}
}

func TestRepositoryDeleteLayers(t *testing.T) {
	r, id := repoWith(t, "a:1", "b:1")
	img, _ := r.Resolve(id)
	rs, err := r.Delete(id[7:], true, true, fakeUsers{})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("untagged a:1, untagged b:1, deleted %s, deleted %s", ShortID(id), ShortID(img.Config.RootFS.DiffIDs[0]))
	if got := records(rs); got != want {
		t.Errorf("rmi -f: %s, want %s", got, want)
	}
	if _, err := r.Resolve("a:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a:1 after rmi: %v", err)
	}
}

func TestRepositoryTagAndPersist(t *testing.T) {
	r, id := repoWith(t, "alpine:latest")
	if got, err := r.Tag("alpine", "registry:5000/team/app", "v1"); err != nil || got != "registry:5000/team/app:v1" {
		t.Fatalf("tag: %q %v", got, err)
	}
	if got, err := r.Tag(id[7:19], "mine", ""); err != nil || got != "mine" {
		t.Fatalf("tag by id: %q %v", got, err)
	}
	for _, c := range []struct{ repo, tag, want string }{
		{"", "", "invalid reference format"},
		{"x", "bad tag", "invalid tag format"},
		{"Upper", "", "invalid reference format: repository name must be lowercase"},
	} {
		if _, err := r.Tag("alpine", c.repo, c.tag); err == nil || errors.Is(err, ErrInvalid) || err.Error() != c.want {
			t.Errorf("tag %q %q: %v, want %q", c.repo, c.tag, err, c.want)
		}
	}
	if _, err := r.Tag("nosuch", "x", ""); !errors.Is(err, ErrNotFound) || err.Error() != "No such image: nosuch:latest" {
		t.Errorf("tag nosuch: %v", err)
	}
	// A restart of hostd finds the same images and tags.
	again, err := OpenRepository(r.store, r.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := again.Lookup("mine")
	if err != nil || e.Image.ID != id || strings.Join(e.Tags, " ") != "alpine:latest mine:latest registry:5000/team/app:v1" || e.LastTagTime.IsZero() {
		t.Errorf("after reopening: %+v %v", e, err)
	}
}

func TestRepositoryLoadMovesTags(t *testing.T) {
	r, id := repoWith(t, "app:1", "app:2")
	other := layerTar(t, reg("g", "other"))
	if _, err := r.store.AddLayer(bytes.NewReader(other), ""); err != nil {
		t.Fatal(err)
	}
	id2, err := r.store.AddConfig([]byte(`{"os":"linux","rootfs":{"type":"layers","diff_ids":["` + Digest(other) + `"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := r.AddLoaded(Loaded{ID: id2, Tags: []string{"app:1"}})
	if err != nil || len(msgs) != 1 || msgs[0] != "The image app:1 already exists, renaming the old one with ID "+id+" to empty string" {
		t.Fatalf("load: %q %v", msgs, err)
	}
	if e, _ := r.Lookup(id); strings.Join(e.Tags, " ") != "app:2" {
		t.Errorf("old image's tags %v", e.Tags)
	}
	items, err := r.SaveItems([]string{"app"})
	if err != nil || len(items) != 2 {
		t.Fatalf("save app: %+v %v", items, err)
	}
	for name, want := range map[string]string{"nosuch": "No such image: nosuch", "nosuch:1": "reference does not exist", "Bad": "invalid reference format: repository name must be lowercase"} {
		if _, err := r.SaveItems([]string{name}); err == nil || err.Error() != want {
			t.Errorf("save %s: %v, want %q", name, err, want)
		}
	}
	if items, err := r.SaveItems([]string{id[7:13]}); err != nil || len(items) != 1 || items[0].Tags != nil {
		t.Errorf("save by id: %+v %v", items, err)
	}
}
