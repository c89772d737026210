package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// testProgram is a command of this module that tests run as the lab runs
// it, built once per test binary with the go tool into a directory of its
// own, which TestMain removes (removeTestPrograms): nothing stays in the
// machine's /tmp.
type testProgram struct {
	pkg, name string
	once      sync.Once
	dir, path string
	err       error
}

var (
	etcdTestProgram  = &testProgram{pkg: "github.com/nslab/nslab/cmd/nslab-etcd", name: EtcdBinaryName}
	hostdTestProgram = &testProgram{pkg: "github.com/nslab/nslab/cmd/nslab-hostd", name: HostdBinaryName}
)

func (p *testProgram) build(t testing.TB) string {
	t.Helper()
	p.once.Do(func() {
		if p.dir, p.err = os.MkdirTemp("", "nslab-lab-test-bin-"); p.err != nil {
			return
		}
		p.path = filepath.Join(p.dir, p.name)
		if out, err := exec.Command("go", "build", "-o", p.path, p.pkg).CombinedOutput(); err != nil {
			p.err = fmt.Errorf("go build %s: %v\n%s", p.pkg, err, out)
		}
	})
	if p.err != nil {
		t.Fatal(p.err)
	}
	return p.path
}

// removeTestPrograms removes what build built (nslab-etcd alone is 36 MB).
func removeTestPrograms() {
	for _, p := range []*testProgram{etcdTestProgram, hostdTestProgram} {
		if p.dir != "" {
			os.RemoveAll(p.dir)
		}
	}
}
