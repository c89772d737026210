package rootns

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// An entry of nslab's made in a temporary directory between two listings
// is reported; one kept on purpose, one of another program, and one that
// went away are not. (A directory of the test's own stands for /tmp, so
// that other runs' checks on the machine never see these.)
func TestTmpLeft(t *testing.T) {
	tmp := t.TempDir()
	made := func(pattern string) string {
		p, err := os.MkdirTemp(tmp, pattern)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	gone := made("nslab-rootns-gone-")
	kept := made("nslab-rootns-kept-")
	before := tmpEntries(tmp, []string{kept})
	if !slices.Contains(before, gone) || slices.Contains(before, kept) {
		t.Fatalf("TmpEntries = %q: want %s listed and %s kept out", before, gone, kept)
	}
	left := made("nslab-rootns-left-")
	dump := filepath.Join(tmp, "containerd.999999999.stacks.log")
	if err := os.WriteFile(dump, []byte("goroutine 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	made("unrelated-")
	os.RemoveAll(gone)
	got := TmpLeft(before, tmpEntries(tmp, []string{kept}))
	if want := []string{dump, left}; !slices.Equal(got, want) {
		t.Errorf("TmpLeft = %q, want %q", got, want)
	}
}

// A file written into a layer of the image store is a change; a layer
// added or removed is not.
func TestLayersChanged(t *testing.T) {
	store := t.TempDir()
	t.Setenv("NSLAB_IMAGE_STORE", store)
	for _, id := range []string{"aa", "bb"} {
		if err := os.MkdirAll(filepath.Join(store, "layers", id, "tree", "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	before := layerDigests(store)
	if len(before) != 2 {
		t.Fatalf("sums: %v", before)
	}
	os.MkdirAll(filepath.Join(store, "layers", "cc", "tree"), 0o755)
	os.RemoveAll(filepath.Join(store, "layers", "bb"))
	if d := LayersChanged(before, layerDigests(store)); len(d) != 0 {
		t.Fatalf("a layer added and one removed: %v", d)
	}
	os.WriteFile(filepath.Join(store, "layers", "aa", "tree", "etc", "passwd"), []byte("x"), 0o644)
	if d := LayersChanged(before, layerDigests(store)); len(d) != 1 || !strings.Contains(d[0], "layer aa") {
		t.Fatalf("a write into a layer: %v", d)
	}
}
