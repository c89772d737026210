package netns

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// pinFiles makes the empty files of RunDir that namespaces are
// bind-mounted on, in one mount namespace. The first is created; every
// later one is a hard link to the first one's file, held by a descriptor
// opened before anything was mounted on it. A link allocates no inode:
// on an ext4 where many files were deleted lately (as every lab's down
// deletes its pins), creating a file costs 0.25-0.35 ms, the allocator
// passing over each recently freed inode, and a link 7 µs. Mounts sit on
// names, not on inodes, so each link holds its own namespace, and each
// unpin removes one name. Where no link can be made (the held file lost
// its last name, too many links, RunDir moved to another mount), the next
// file is created and held instead.
type pinFiles struct {
	mu   sync.Mutex
	held int // O_PATH descriptor of an earlier pin file, or -1
}

// callerPinFiles makes the pin files of the caller's mount namespace.
var callerPinFiles = pinFiles{held: -1}

// create makes RunDir/NAME; it fails if NAME exists.
func (p *pinFiles) create(name string) (string, error) {
	path := Path(name)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held >= 0 {
		err := unix.Linkat(p.held, "", unix.AT_FDCWD, path, unix.AT_EMPTY_PATH)
		if err == nil {
			return path, nil
		}
		if errors.Is(err, unix.EEXIST) {
			return "", fmt.Errorf("netns %s: create pin file: %w", name, os.ErrExist)
		}
		unix.Close(p.held)
		p.held = -1
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return "", fmt.Errorf("netns %s: create pin file: %w", name, err)
	}
	f.Close()
	if fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0); err == nil {
		p.held = fd
	}
	return path, nil
}
