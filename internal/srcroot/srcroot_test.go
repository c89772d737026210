package srcroot

import (
	"os"
	"path/filepath"
	"testing"
)

// Built with or without -trimpath (make test builds with it), a test finds
// the module it was built from: this very file is in it.
func TestDirIsThisModule(t *testing.T) {
	dir, ok := Dir()
	if !ok {
		t.Fatal("Dir: the module's source was not found")
	}
	if _, err := os.Stat(filepath.Join(dir, "internal", "srcroot", "srcroot_test.go")); err != nil {
		t.Fatalf("Dir = %s, which does not hold this test: %v", dir, err)
	}
}

func TestAbove(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "suites", "native")
	other := filepath.Join(root, "examples", "consumer")
	for _, d := range []string{deep, other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(dir, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, ok := above(deep); ok {
		t.Fatalf("above(%s) = %s with no go.mod anywhere", deep, got)
	}
	write(root, "module "+Module+"\n\ngo 1.24\n")
	// A module of its own inside the checkout (an example) is passed over.
	write(other, "module example.com/consumer\n")
	for _, from := range []string{root, deep, other} {
		if got, ok := above(from); !ok || got != root {
			t.Errorf("above(%s) = %q, %v; want %s", from, got, ok, root)
		}
	}
	write(root, "module example.com/nslabfork\n")
	if got, ok := above(deep); ok {
		t.Errorf("above(%s) = %s, whose go.mod is another module's", deep, got)
	}
}
