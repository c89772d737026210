package lab

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nslab/nslab/netns/nstest"
)

// The lab's programs as tests run them, each built once per test binary
// (only when a test needs it) into a directory of its own, which TestMain
// removes (removeTestPrograms): nothing stays in the machine's /tmp.
var (
	etcdTestProgram  = &nstest.Programs{Packages: []string{"github.com/nslab/nslab/cmd/" + EtcdBinaryName}, DirPattern: "nslab-lab-test-bin-"}
	hostdTestProgram = &nstest.Programs{Packages: []string{"github.com/nslab/nslab/cmd/" + HostdBinaryName}, DirPattern: "nslab-lab-test-bin-", Static: true}
)

// removeTestPrograms removes what the tests built (nslab-etcd alone is 36 MB).
func removeTestPrograms() {
	etcdTestProgram.Cleanup()
	hostdTestProgram.Cleanup()
}

// A module that imports nslab gets the lab's programs built from the nslab
// module of its test binary (here: this checkout) into the user's cache
// directory; several processes may ask at once.
func TestBuildProgram(t *testing.T) {
	// The go tool's own cache stays where it was.
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOCACHE", strings.TrimSpace(string(gocache)))
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	ctx := t.Context()
	b, err := BuildProgram(ctx, HostdBinaryName)
	if err != nil {
		t.Fatal(err)
	}
	cache, _ := os.UserCacheDir()
	if filepath.Dir(filepath.Dir(b.Path)) != filepath.Join(cache, "nslab", "programs") || filepath.Base(b.Path) != HostdBinaryName {
		t.Fatalf("built at %s", b.Path)
	}
	if !strings.HasPrefix(filepath.Base(filepath.Dir(b.Path)), "src-") || !strings.Contains(b.Source, "the module's source at ") {
		t.Fatalf("a checkout's build: %+v", b)
	}
	head := make([]byte, 4)
	f, err := os.Open(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	f.Read(head)
	f.Close()
	if string(head) != "\x7fELF" || !isExecutable(b.Path) {
		t.Fatalf("%s is not an executable: %q", b.Path, head)
	}
	// Static, as make build links it: no dynamic loader for a container's
	// init to run first.
	if e, err := elf.Open(b.Path); err != nil {
		t.Fatal(err)
	} else {
		defer e.Close()
		for _, p := range e.Progs {
			if p.Type == elf.PT_INTERP {
				t.Fatalf("%s is linked dynamically", b.Path)
			}
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			again, err := BuildProgram(ctx, HostdBinaryName)
			if err == nil && again.Path != b.Path {
				err = fmt.Errorf("built again at %s", again.Path)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if !isExecutable(b.Path) {
		t.Fatalf("%s after three builds at once: not an executable", b.Path)
	}
	if ents, _ := os.ReadDir(filepath.Dir(b.Path)); len(ents) != 2 {
		t.Fatalf("left in %s: %v", filepath.Dir(b.Path), ents)
	}
	if _, err := BuildProgram(ctx, "nslab"); err == nil {
		t.Fatal("built a program the lab does not run")
	}
}

// The cache directory of a release is its version; of a checkout, a hash
// of its path.
func TestModuleSourceKey(t *testing.T) {
	for dir, want := range map[string]string{
		"/root/go/pkg/mod/github.com/nslab/nslab@v1.2.3":                             "v1.2.3",
		"/root/go/pkg/mod/github.com/nslab/nslab@v0.0.0-20261206010203-abcdefabcdef": "v0.0.0-20261206010203-abcdefabcdef",
		"/work/nslab": "",
	} {
		if got := cachedVersion(dir); got != want {
			t.Errorf("cachedVersion(%s) = %q, want %q", dir, got, want)
		}
	}
	a, b := moduleSource{Dir: "/a"}.key(), moduleSource{Dir: "/b"}.key()
	if a == b || !strings.HasPrefix(a, "src-") {
		t.Errorf("keys of two checkouts: %s %s", a, b)
	}
	if k := (moduleSource{Dir: "/x/nslab@v1.2.3", Version: "v1.2.3"}).key(); k != "v1.2.3" {
		t.Errorf("key of a release: %s", k)
	}
}
