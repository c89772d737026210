package netns

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// DoFresh runs fn on a discarded OS thread inside a brand-new, unnamed
// network namespace. Nothing pins it, so the namespace and everything fn made
// in it vanish when the thread ends (unless fn keeps an fd open), even if the
// process is killed: the right scope for probing what the kernel supports
// without touching any namespace anybody else uses.
func DoFresh(fn func() error) error {
	return onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare network namespace: %w", err)
		}
		return fn()
	})
}
