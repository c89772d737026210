// Package imagetest gives a test binary an image store of its own: the
// labs and daemons its tests start unpack the default images there, once
// per run, and neither read nor fill the machine's store.
package imagetest

import (
	"fmt"
	"os"
	"testing"

	"github.com/nslab/nslab/hostd/image"
)

// Run runs the tests with $NSLAB_IMAGE_STORE naming a fresh directory, which
// every daemon of the run shares as the machine's store, removes it after
// them, and returns m.Run's exit code. Use it in TestMain:
// `os.Exit(imagetest.Run(m))`.
func Run(m *testing.M) int {
	store, err := os.MkdirTemp("", "nslab-test-images-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(store)
	os.Setenv(image.StoreEnv, store)
	return m.Run()
}
