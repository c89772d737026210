package scenarios

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nslab/nslab/check"
)

// Every checks file of fixtures/checks runs in a spec: checksFiles names
// E01–E23, each for the lab its file is for; the spec file it names runs
// the file after the exercise (holdsToChecks, holdsToChecksVia) and, where
// it names failures on the fresh lab, before it (failsChecks,
// failsChecksVia); no spec runs a file the table leaves out.
func TestEveryChecksFileRuns(t *testing.T) {
	files, err := filepath.Glob(ChecksFile("E*"))
	if err != nil {
		t.Fatal(err)
	}
	var ids, want []string
	for _, f := range files {
		ids = append(ids, strings.TrimSuffix(filepath.Base(f), ".yaml"))
	}
	for i := 1; i <= 23; i++ {
		want = append(want, fmt.Sprintf("E%02d", i))
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("fixtures/checks holds %v, want one file per exercise, %v", ids, want)
	}
	calls := checksCalls(t)
	for _, id := range want {
		e, ok := checksFiles[id]
		if !ok {
			t.Errorf("%s: not in checksFiles: no spec runs fixtures/checks/%s.yaml", id, id)
			continue
		}
		f, err := check.Load(ChecksFile(id))
		if err != nil {
			t.Fatal(err)
		}
		if f.Exercise != id || f.Topology != e.fixture {
			t.Errorf("fixtures/checks/%s.yaml is for exercise %s on %s; checksFiles says %s on %s", id, f.Exercise, f.Topology, id, e.fixture)
		}
		after := append(calls["holdsToChecks"][id], calls["holdsToChecksVia"][id]...)
		if !slices.Contains(after, e.in) {
			t.Errorf("%s: checksFiles says it runs in %s; it runs after the exercise in %v", id, e.in, after)
		}
		before := append(calls["failsChecks"][id], calls["failsChecksVia"][id]...)
		if len(e.before) > 0 && !slices.Contains(before, e.in) {
			t.Errorf("%s: checksFiles names its failures on the fresh lab; %s does not run it there (it runs before the exercise in %v)", id, e.in, before)
		}
		if len(e.before) == 0 && len(before) > 0 {
			t.Errorf("%s runs on the fresh lab in %v, and checksFiles names no failure it must show there", id, before)
		}
	}
	for fn, byID := range calls {
		for id, in := range byID {
			if _, ok := checksFiles[id]; !ok {
				t.Errorf("%s(%q) in %v: no such exercise in checksFiles", fn, id, in)
			}
		}
	}
}

// checksCalls finds, in the package's own files, the calls that run a
// checks file: function name, then exercise id, then the files that call.
func checksCalls(t *testing.T) map[string]map[string][]string {
	t.Helper()
	runners := []string{"holdsToChecks", "holdsToChecksVia", "failsChecks", "failsChecksVia"}
	calls := map[string]map[string][]string{}
	srcs, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, src := range srcs {
		if strings.HasSuffix(src, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, src, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			fn, ok := call.Fun.(*ast.Ident)
			if !ok || !slices.Contains(runners, fn.Name) || len(call.Args) == 0 {
				return true
			}
			lit, ok := call.Args[len(call.Args)-1].(*ast.BasicLit)
			id, err := strconv.Unquote(exprText(lit))
			if !ok || err != nil {
				// The runners themselves pass their id on.
				if src != "checks.go" {
					t.Errorf("%s: %s names its exercise other than by a literal id", fset.Position(call.Pos()), fn.Name)
				}
				return true
			}
			if calls[fn.Name] == nil {
				calls[fn.Name] = map[string][]string{}
			}
			calls[fn.Name][id] = append(calls[fn.Name][id], src)
			return true
		})
	}
	return calls
}

func exprText(lit *ast.BasicLit) string {
	if lit == nil || lit.Kind != token.STRING {
		return ""
	}
	return lit.Value
}
