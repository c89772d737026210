package rootns

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// ImageStore is the machine's image store of hostd (hostd/image's
// DefaultStore, which this base package cannot import), or
// $NSLAB_IMAGE_STORE. Its layers' trees are the read-only lower directories
// of every hostd container's root filesystem: no run may change one.
func ImageStore() string {
	if d := os.Getenv("NSLAB_IMAGE_STORE"); d != "" {
		return d
	}
	return "/var/lib/nslab/images"
}

// layerDigests sums, per layer of the store (layers/<id>/tree), what its
// tree holds (TreeEntries). A write into a layer (a file changed, added or
// removed anywhere in it) changes its sum.
func layerDigests(store string) map[string]string {
	out := map[string]string{}
	trees, _ := filepath.Glob(filepath.Join(store, "layers", "*", "tree"))
	for _, tree := range trees {
		h := sha256.New()
		entries, _ := TreeEntries(tree)
		for _, e := range entries {
			fmt.Fprintln(h, e)
		}
		out[filepath.Base(filepath.Dir(tree))] = hex.EncodeToString(h.Sum(nil))
	}
	return out
}

// TreeEntries lists every entry of the tree at root with what a write
// changes: its path, mode, size, modification time and link target. A
// part of the tree that cannot be walked is listed with why; the error
// joins every entry that could not be read.
func TreeEntries(root string) ([]string, error) {
	var out []string
	var errs []error
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v", p, err))
			errs = append(errs, err)
			return nil
		}
		info, err := e.Info()
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		link, _ := os.Readlink(p)
		out = append(out, fmt.Sprintf("%s %v %d %d %s", p, info.Mode(), info.Size(), info.ModTime().UnixNano(), link))
		return nil
	})
	return out, errors.Join(errs...)
}

// LayersChanged lists the layers present in both sums whose trees
// differ. Layers added meanwhile (an image loaded) or removed (the store
// cleaned) are no container's doing.
func LayersChanged(before, after map[string]string) []string {
	var out []string
	for id, sum := range before {
		if now, ok := after[id]; ok && now != sum {
			out = append(out, "images: ~ layer "+id+" of "+ImageStore()+" changed")
		}
	}
	slices.Sort(out)
	return out
}
