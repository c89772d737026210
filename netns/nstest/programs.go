package nstest

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Programs are Go programs a test binary builds with the go tool, once,
// into a temporary directory of its own, and runs as processes.
//
// Under make test they are not built again: $NSLAB_BIN names the nslab that
// make build has just built from this checkout, and its directory holds
// nslab-hostd and nslab-etcd too (MakeBuilt). About 2 s of CPU a program,
// for each test binary that runs one.
type Programs struct {
	// Packages are the import paths of the programs' main packages.
	Packages []string
	// DirPattern names the temporary directory (os.MkdirTemp's pattern).
	DirPattern string
	// Static links the programs without cgo (CGO_ENABLED=0), as `make
	// build` links nslab-hostd: a dynamic hostd maps the C library and
	// its resolver too, about 1.5 MiB more of resident memory each.
	Static bool
	// Flags are more go build flags (-race): programs asked with them are
	// always built, make build's are not.
	Flags []string

	once     sync.Once
	dir      string
	err      error
	prebuilt bool // dir is MakeBuilt's: nothing to remove
}

// MakeBuilt is the directory of $NSLAB_BIN, where make build puts the
// programs of this checkout and which make test names to the package
// tests, or "" when NSLAB_BIN is not set. It is read when the test binary
// starts: a test that clears NSLAB_BIN for the lab's own lookup (t.Setenv)
// still runs make build's programs, rather than building them again (a
// static nslab-etcd, compiled anew, took cmd/nslab's TestEtcdCommand from
// 30 to 204 s in a loaded make test).
func MakeBuilt() string { return makeBuilt }

var makeBuilt = func() string {
	if bin := os.Getenv("NSLAB_BIN"); bin != "" {
		return filepath.Dir(bin)
	}
	return ""
}()

// Path builds the programs on its first call and returns the path of the
// one named name (the last element of its package path).
func (p *Programs) Path(t testing.TB, name string) string {
	t.Helper()
	bin, err := p.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// Lookup is Path for a caller without a test, TestMain.
func (p *Programs) Lookup(name string) (string, error) {
	p.once.Do(p.build)
	if p.err != nil {
		return "", p.err
	}
	return filepath.Join(p.dir, name), nil
}

func (p *Programs) build() {
	if dir := MakeBuilt(); dir != "" && len(p.Flags) == 0 && p.allIn(dir) {
		p.dir, p.prebuilt = dir, true
		return
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		p.err = fmt.Errorf("the tests build %s and need the go tool in PATH: %w", strings.Join(p.Packages, ", "), err)
		return
	}
	if p.dir, err = os.MkdirTemp("", p.DirPattern); err != nil {
		p.err = err
		return
	}
	args := append(append([]string{"build", "-o", p.dir + "/"}, p.Flags...), p.Packages...)
	cmd := exec.Command(goTool, args...)
	if p.Static {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		p.err = fmt.Errorf("go build %s: %v\n%s", strings.Join(p.Packages, " "), err, out)
	}
}

// allIn says whether dir holds an executable of each program.
func (p *Programs) allIn(dir string) bool {
	for _, pkg := range p.Packages {
		st, err := os.Stat(filepath.Join(dir, path.Base(pkg)))
		if err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// Cleanup removes what Path built; hand it to Main.
func (p *Programs) Cleanup() {
	if p.dir != "" && !p.prebuilt {
		os.RemoveAll(p.dir)
	}
}
