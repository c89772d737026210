package nstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Programs are Go programs a test binary builds with the go tool, once,
// into a temporary directory of its own, and runs as processes.
type Programs struct {
	// Packages are the import paths of the programs' main packages.
	Packages []string
	// DirPattern names the temporary directory (os.MkdirTemp's pattern).
	DirPattern string
	// Static links the programs without cgo (CGO_ENABLED=0), as `make
	// build` links nslab-hostd: a dynamic hostd maps the C library and
	// its resolver too, about 1.5 MiB more of resident memory each.
	Static bool

	once sync.Once
	dir  string
	err  error
}

// Path builds the programs on its first call and returns the path of the
// one named name (the last element of its package path).
func (p *Programs) Path(t testing.TB, name string) string {
	t.Helper()
	p.once.Do(p.build)
	if p.err != nil {
		t.Fatal(p.err)
	}
	return filepath.Join(p.dir, name)
}

func (p *Programs) build() {
	goTool, err := exec.LookPath("go")
	if err != nil {
		p.err = fmt.Errorf("the tests build %s and need the go tool in PATH: %w", strings.Join(p.Packages, ", "), err)
		return
	}
	if p.dir, err = os.MkdirTemp("", p.DirPattern); err != nil {
		p.err = err
		return
	}
	cmd := exec.Command(goTool, append([]string{"build", "-o", p.dir + "/"}, p.Packages...)...)
	if p.Static {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		p.err = fmt.Errorf("go build %s: %v\n%s", strings.Join(p.Packages, " "), err, out)
	}
}

// Cleanup removes what Path built; hand it to Main.
func (p *Programs) Cleanup() {
	if p.dir != "" {
		os.RemoveAll(p.dir)
	}
}
