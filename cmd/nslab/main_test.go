package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/nslab/nslab/hostd/image"
)

// TestMain gives the labs of the tests an image store of their own, not
// the machine's, and removes it afterwards.
func TestMain(m *testing.M) {
	store, err := os.MkdirTemp("", "nslab-cli-images-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv(image.StoreEnv, store)
	code := m.Run()
	os.RemoveAll(store)
	os.Exit(code)
}
