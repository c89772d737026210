package netns

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

var runDirOnce struct {
	sync.Once
	err error
}

// EnsureRunDir makes /run/netns a shared mount point, exactly as iproute2's
// `ip netns add` does the first time it runs after boot, so that pins made
// by the lab and pins made by a student's `ip netns add` inside a host behave
// the same way. It is the one change to the machine's mount table that any
// netns tool makes; it is idempotent, and the suites make it before they take
// their "before" snapshot of the root namespace so the snapshot sees it.
func EnsureRunDir() error {
	runDirOnce.Do(func() { runDirOnce.err = ensureRunDir() })
	return runDirOnce.err
}

func ensureRunDir() error {
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	// Already a mount point: make it shared (a no-op when it is).
	err := unix.Mount("", RunDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("netns: make %s shared: %w", RunDir, err)
	}
	// Not a mount point yet: bind it onto itself first, as iproute2 does.
	if err := unix.Mount(RunDir, RunDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("netns: bind %s: %w", RunDir, err)
	}
	if err := unix.Mount("", RunDir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("netns: make %s shared: %w", RunDir, err)
	}
	return nil
}
