package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// goTool is the go command on PATH (the Makefile puts Go's there).
func goTool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the layering checks ask the go command, which is not on PATH: %v", err)
	}
	return p
}

// moduleRoot is the directory of the module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(goTool(t), "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Fatalf("go env GOMOD: %v %s", err, out)
	}
	return filepath.Dir(string(bytes.TrimSpace(out)))
}

type listed struct {
	ImportPath                         string
	Imports, TestImports, XTestImports []string
}

// imports lists, for every package of the module, the module's packages it
// imports, its tests included.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command(goTool(t), "list", "-e", "-json=ImportPath,Imports,TestImports,XTestImports", "./...")
	cmd.Dir = moduleRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	graph := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		from := strings.TrimPrefix(p.ImportPath, Module+"/")
		seen := map[string]bool{}
		for _, imp := range append(append(p.Imports, p.TestImports...), p.XTestImports...) {
			to, ok := strings.CutPrefix(imp, Module+"/")
			if ok && to != from && !seen[to] {
				seen[to] = true
				graph[from] = append(graph[from], to)
			}
		}
		if _, ok := graph[from]; !ok {
			graph[from] = nil
		}
	}
	return graph
}

// No package imports one of a higher layer, tests included, nor reaches
// past the engine's API from where only the API may be used, except the
// imports Allowed names; and every allowance is still needed.
func TestImportsKeepTheLayers(t *testing.T) {
	graph := imports(t)
	var bad []string
	used := map[string]bool{}
	for from, tos := range graph {
		if LayerOf(from) < 0 {
			bad = append(bad, Check(from, from))
		}
		for _, to := range tos {
			why := Check(from, to)
			if why == "" {
				continue
			}
			if _, ok := Allowed[from+" -> "+to]; ok {
				used[from+" -> "+to] = true
				continue
			}
			bad = append(bad, why)
		}
	}
	for a, why := range Allowed {
		if !used[a] {
			bad = append(bad, fmt.Sprintf("allowance %q (%s) is no longer needed: remove it from layering.Allowed", a, why))
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		from, to string
		ok       bool
	}{
		{"netimpl/overlay", "netns", true},
		{"netimpl/internal/pathbench", "netns/probe", true},
		{"hostd", "netimpl", true},
		{"hostd", "netimpl/controller", true},
		{"hostd", "netimpl/bridge", false}, // behind the engine's API
		{"lab", "hostdconfig", true},
		{"lab", "hostd", true},
		{"netns", "lab", false},
		{"netimpl", "hostd", false},
		{"hostd", "lab", false},
		{"etcdmember", "netimpl/store", false},
		{"scenarios", "netimpl/gre", true}, // specs may reach into the engine
		{"cmd/nslab", "parity", true},
		{"parity", "cmd/nslab", false},
		{"nowhere", "netns", false},
	} {
		if got := Check(c.from, c.to); (got == "") != c.ok {
			t.Errorf("%s -> %s: %q, want ok=%v", c.from, c.to, got, c.ok)
		}
	}
}

// maxLines is how long a function may be: what fits on a screen.
const maxLines = 80

// LongFunctions are today's functions over maxLines, each with its
// owner's plan; the list only shrinks.
var LongFunctions = map[string]string{}

// No function outside tests runs over maxLines lines, except those
// LongFunctions names; and every one it names still does.
func TestFunctionsFitOnAScreen(t *testing.T) {
	root := moduleRoot(t)
	long := map[string]int{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			if n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1; n > maxLines {
				long[filepath.ToSlash(rel)+" "+fd.Name.Name] = n
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for fn, n := range long {
		if _, ok := LongFunctions[fn]; !ok {
			bad = append(bad, fmt.Sprintf("%s is %d lines (at most %d): split it into named steps", fn, n, maxLines))
		}
	}
	for fn := range LongFunctions {
		if _, ok := long[fn]; !ok {
			bad = append(bad, fmt.Sprintf("%s fits on a screen now (or is gone): remove it from LongFunctions", fn))
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
}
