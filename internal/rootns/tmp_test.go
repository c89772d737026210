package rootns

import (
	"os"
	"path/filepath"
	"slices"
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
