package main

import (
	"os"
	"testing"

	"github.com/nslab/nslab/hostd/image/imagetest"
)

// TestMain gives the labs of the tests an image store of their own, not
// the machine's.
func TestMain(m *testing.M) {
	os.Exit(imagetest.Run(m))
}
