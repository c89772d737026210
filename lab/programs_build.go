package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/internal/srcroot"
)

// A module that imports nslab has no bin/ next to its test binaries: the
// lab builds its programs for it, with the go tool, from the very nslab
// module the test was built with, into the user's cache directory
// (os.UserCacheDir()/nslab/programs/KEY/). KEY is the module version when
// the source is the module cache's copy of a release (built once, reused by
// every later run), or "src-" and a hash of the directory for a checkout or
// a replace directive's target (built again by each process, which the go
// tool's own cache makes a copy when nothing changed). A lock file in that
// directory lets parallel test binaries build one at a time.

// Module is nslab's module path.
const Module = srcroot.Module

// moduleSource is where this build of nslab comes from.
type moduleSource struct {
	// Dir is the module's root on disk: a checkout, a replace directive's
	// target or the module cache's copy; "" when only Version is known.
	Dir string
	// Version is the release in the module cache ("v1.2.3"); "" for a
	// checkout.
	Version string
}

// key names the cache directory of the programs built from s.
func (s moduleSource) key() string {
	if s.Version != "" {
		return s.Version
	}
	sum := sha256.Sum256([]byte(s.Dir))
	return "src-" + hex.EncodeToString(sum[:6])
}

func (s moduleSource) String() string {
	switch {
	case s.Dir == "":
		return Module + " " + s.Version
	case s.Version != "":
		return Module + " " + s.Version + " (" + s.Dir + ")"
	}
	return "the module's source at " + s.Dir
}

// thisSource finds the source of this build once per process: the
// module's directory when it is on disk (srcroot.Dir: a test binary records
// no dependencies in its build information, but the source it was built
// from is found), else the version the build information records (a
// binary built with -trimpath).
var thisSource = sync.OnceValues(func() (moduleSource, error) {
	if dir, ok := srcroot.Dir(); ok {
		return moduleSource{Dir: dir, Version: cachedVersion(dir)}, nil
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range append([]*debug.Module{&bi.Main}, bi.Deps...) {
			if m.Path == Module && m.Replace == nil && strings.HasPrefix(m.Version, "v") {
				return moduleSource{Version: m.Version}, nil
			}
		}
	}
	return moduleSource{}, fmt.Errorf("cannot tell which %s this is: its source is not on disk and the build information names no released version", Module)
})

// cachedVersion is the version of a module cache directory
// (.../github.com/nslab/nslab@v1.2.3), "" for any other directory.
func cachedVersion(dir string) string {
	_, v, ok := strings.Cut(filepath.Base(dir), "@")
	if !ok || !strings.HasPrefix(v, "v") {
		return ""
	}
	return v
}

// Built says where a program built for this module is and what it took.
type Built struct {
	Path   string
	Source string // what it was built from
	// Reused is true when an earlier run built it (a release's programs
	// are built once per version).
	Reused bool
	Took   time.Duration
}

func (b Built) String() string {
	if b.Reused {
		return fmt.Sprintf("nslab: %s built earlier from %s, reused", b.Path, b.Source)
	}
	return fmt.Sprintf("nslab: built %s from %s with the go tool (%s)", b.Path, b.Source, b.Took.Round(10*time.Millisecond))
}

// BuildProgram returns the program name (HostdBinaryName, EtcdBinaryName)
// built from the nslab module of this binary into the user's cache
// directory, building it when needed.
func BuildProgram(ctx context.Context, name string) (Built, error) {
	if name != HostdBinaryName && name != EtcdBinaryName {
		return Built{}, fmt.Errorf("lab: no program %q to build", name)
	}
	src, err := thisSource()
	if err != nil {
		return Built{}, err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return Built{}, fmt.Errorf("build %s: %w", name, err)
	}
	dir := filepath.Join(cache, "nslab", "programs", src.key())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Built{}, fmt.Errorf("build %s: %w", name, err)
	}
	unlock, err := lockDir(ctx, dir)
	if err != nil {
		return Built{}, fmt.Errorf("build %s: %w", name, err)
	}
	defer unlock()
	b := Built{Path: filepath.Join(dir, name), Source: src.String()}
	if src.Version != "" && isExecutable(b.Path) {
		b.Reused = true
		return b, nil
	}
	start := time.Now()
	if err := goBuild(ctx, src, name, b.Path); err != nil {
		return Built{}, err
	}
	b.Took = time.Since(start)
	return b, nil
}

// goBuild builds cmd/name of src into out: into a temporary name, then
// renamed, so that no process ever starts half a file and a program that
// runs from out keeps its own copy (the go tool would write out in place,
// which fails while it runs). For a checkout the go tool's cache makes
// this a copy when nothing changed. It builds with -trimpath, as make
// build does: what the cache holds then serves every checkout of the same
// source, wherever it lies (a fresh clone, an example's replace target).
func goBuild(ctx context.Context, src moduleSource, name, out string) error {
	pkg := Module + "/cmd/" + name
	target := filepath.Join(filepath.Dir(out), "."+name+".new")
	defer os.Remove(target)
	var cmd *exec.Cmd
	if src.Dir != "" {
		cmd = exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", target, "./cmd/"+name)
		cmd.Dir = src.Dir
		// The module's own go.mod decides its dependencies, not a
		// workspace the caller happens to be in.
		cmd.Env = append(os.Environ(), "GOWORK=off")
	} else {
		// go install pkg@version builds with the release's own go.mod.
		gobin, err := os.MkdirTemp(filepath.Dir(out), ".gobin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(gobin)
		cmd = exec.CommandContext(ctx, "go", "install", "-trimpath", pkg+"@"+src.Version)
		cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOWORK=off")
		target = filepath.Join(gobin, name)
	}
	if name == HostdBinaryName {
		// Linked statically, as make build links it: every container's
		// init is hostd's binary executed again, and a dynamic one costs
		// each container start the dynamic loader's work.
		cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
	}
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s from %s: %s: %w\n%s", name, src, strings.Join(cmd.Args, " "), err, o)
	}
	if err := os.Rename(target, out); err != nil {
		return fmt.Errorf("build %s: %w", name, err)
	}
	return nil
}

// lockDir takes an exclusive lock on dir/.lock, waiting for another
// process's build to end, or for ctx.
func lockDir(ctx context.Context, dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// announced keeps each built program's notice to once per process.
var announced sync.Map

// announce writes b's notice to w the first time this process gets b.
func announce(w io.Writer, b Built) {
	if _, seen := announced.LoadOrStore(b.Path, true); !seen {
		fmt.Fprintln(w, b)
	}
}
