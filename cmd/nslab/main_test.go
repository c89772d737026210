package main

import (
	"os"
	"testing"

	"github.com/nslab/nslab/hostd/image/imagetest"
)

// TestMain gives the labs of the tests an image store of their own, not
// the machine's, and takes NSLAB_LAB away: no test's nslab picks a lab
// from the environment (the tests of that set it themselves).
func TestMain(m *testing.M) {
	os.Unsetenv("NSLAB_LAB")
	code := imagetest.Run(m)
	nslabPrograms.Cleanup()
	os.Exit(code)
}
