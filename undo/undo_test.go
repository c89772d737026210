package undo

import (
	"errors"
	"slices"
	"testing"
)

// make3 makes steps a, b and c, failing at step fail (0: never) and
// undoing what it made so far; it records undone steps in *undone.
func make3(fail int, undone *[]string) (err error) {
	var u Steps
	defer u.OnError(&err)
	for i, name := range []string{"a", "b", "c"} {
		if i+1 == fail {
			return errors.New("step " + name + " failed")
		}
		u.Add(func() { *undone = append(*undone, name) })
	}
	return nil
}

func TestUndoneLastFirstOnError(t *testing.T) {
	var undone []string
	if err := make3(3, &undone); err == nil || !slices.Equal(undone, []string{"b", "a"}) {
		t.Errorf("failed at c: %v, undone %v; want b then a", err, undone)
	}
	undone = nil
	if err := make3(0, &undone); err != nil || len(undone) != 0 {
		t.Errorf("succeeded: %v, undone %v; want nothing undone", err, undone)
	}
}

func TestRunForgets(t *testing.T) {
	n := 0
	var u Steps
	u.Add(func() { n++ })
	u.Run()
	u.Run()
	if n != 1 {
		t.Errorf("a step ran %d times, want once", n)
	}
}
