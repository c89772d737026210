package layering

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"testing"
)

// The ginkgo CLI runs a package as a Ginkgo suite only when one of its test
// files imports Ginkgo; otherwise it runs it as a plain go test and passes
// none of its flags (--procs, --label-filter, the JSON and JUnit reports).
// Each suite's test files must therefore import it, whatever its shared
// package (suites/internal/suite) does for them.
func TestSuitesImportGinkgo(t *testing.T) {
	for _, dir := range []string{"native", "reference"} {
		files, err := filepath.Glob(filepath.Join("..", "..", "suites", dir, "*_test.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("suites/%s: no test files (%v)", dir, err)
		}
		found := false
		for _, f := range files {
			ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range ast.Imports {
				if p, _ := strconv.Unquote(imp.Path.Value); p == "github.com/onsi/ginkgo/v2" {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("suites/%s: no test file imports github.com/onsi/ginkgo/v2: the ginkgo CLI would run it as a plain go test", dir)
		}
	}
}
