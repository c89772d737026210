package labtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nslab/nslab/lab"
)

// failRecorder is a recorder whose failures are its own, not the test's.
type failRecorder struct {
	recorder
	errs []string
}

func (r *failRecorder) Errorf(format string, args ...any) {
	r.failed = true
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *failRecorder) Failed() bool { return r.failed }

// A pooled lab serves the next test once reset: the same lab, without
// what the first test added; one the test broke beyond a reset fails that
// test and goes down; Close takes down what is left.
func TestPool(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	pool, err := NewPool(root)
	if err != nil {
		t.Fatal(err)
	}
	first := &failRecorder{recorder: recorder{TB: t}}
	l := Up(first, twoPlain, FromPool(pool))
	id := l.ID()
	l.Host("a").Sh("ip addr add 10.10.0.99/24 dev eth1 && ip route add 10.99.0.0/16 via 10.10.0.2")
	first.end()
	if len(first.errs) > 0 {
		t.Fatalf("giving the lab back: %v", first.errs)
	}

	second := &failRecorder{recorder: recorder{TB: t}}
	l = Up(second, twoPlain, FromPool(pool))
	if l.ID() != id {
		t.Errorf("second test got lab %s, want the pooled %s", l.ID(), id)
	}
	if out := l.Host("a").Sh("ip -o addr; ip route"); strings.Contains(out, "10.10.0.99") || strings.Contains(out, "10.99.0.0") {
		t.Errorf("the first test's address or route is still there:\n%s", out)
	}
	// An interface up made, deleted: no reset makes it again.
	l.Host("a").Sh("ip link del eth1")
	second.end()
	if len(second.errs) != 1 || !strings.Contains(second.errs[0], lab.ErrNotResettable.Error()) {
		t.Errorf("giving back a lab without its eth1: %q, want one error saying it cannot be reset", second.errs)
	}
	if _, err := os.Stat(filepath.Join(root, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the broken lab %s is still up (%v)", id, err)
	}

	third := &failRecorder{recorder: recorder{TB: t}}
	if l = Up(third, twoPlain, FromPool(pool)); l.ID() == id {
		t.Errorf("third test got the broken lab %s", id)
	}
	third.end()
	made, err := pool.Made()
	if err != nil || len(made) != 2 || made[0] == made[1] || (made[0] != id && made[1] != id) {
		t.Errorf("Made = %v, %v: want the broken lab and the third test's", made, err)
	}
	if err := pool.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(root); len(ents) > 0 {
		t.Errorf("left under the state root after Close: %v", ents)
	}
}
