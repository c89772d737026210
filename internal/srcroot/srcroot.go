// Package srcroot finds, on disk, the source of the nslab module a program
// was built from: where its fixtures, transcripts and programs' sources
// are.
package srcroot

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Module is nslab's module path.
const Module = "github.com/nslab/nslab"

// Dir returns the root of the nslab module this program was built from,
// when it can tell:
//
//   - from this file's name, which a build without -trimpath records as an
//     absolute path (a checkout, a replace directive's target, the module
//     cache's copy);
//   - in a test binary built with -trimpath (make test's, so that the build
//     cache serves every clone of the repository), from the working
//     directory, which go test and ginkgo set to the package's own: the
//     nearest directory above it holding nslab's go.mod.
//
// It returns false otherwise: a program built with -trimpath outside a
// test, or a test of another module.
func Dir() (string, bool) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Dir(filepath.Dir(filepath.Dir(file)))
		if isModuleRoot(dir) {
			return dir, true
		}
	}
	if !testing.Testing() {
		return "", false
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	return above(wd)
}

// above returns the nearest directory at or above dir that is nslab's
// module root.
func above(dir string) (string, bool) {
	for {
		if isModuleRoot(dir) {
			return dir, true
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", false
		}
		dir = up
	}
}

// isModuleRoot says whether dir holds nslab's go.mod.
func isModuleRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(first) == "module "+Module
}
