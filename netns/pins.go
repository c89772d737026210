package netns

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Pins makes and removes namespace pins in RunDir of one mount namespace:
// the caller's (NewPins(nil)), or another one held open by a file. A
// daemon that runs in a virtual host's own mount namespace, whose /run is
// the host's, still pins what `ip netns` lists on the machine by pinning in
// the machine's mount namespace: a mount made there is seen there, and
// nowhere else.
type Pins struct {
	mnt   *os.File // nil: the caller's mount namespace
	once  sync.Once
	err   error
	files *pinFiles // makes the pin files in mnt
}

// NewPins returns pins made in the mount namespace mnt refers to
// (/proc/PID/ns/mnt opened, or inherited as a file), or in the caller's
// when mnt is nil. The caller keeps mnt open as long as it uses the Pins.
func NewPins(mnt *os.File) *Pins {
	if mnt == nil {
		return &Pins{files: &callerPinFiles}
	}
	return &Pins{mnt: mnt, files: &pinFiles{held: -1}}
}

// Path returns the pin path of NAME in that mount namespace.
func (p *Pins) Path(name string) string { return Path(name) }

// do runs fn in the pins' mount namespace.
func (p *Pins) do(fn func() error) error {
	if p.mnt == nil {
		return fn()
	}
	return onThread(func() error {
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return fmt.Errorf("unshare fs: %w", err)
		}
		if err := unix.Setns(int(p.mnt.Fd()), unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("enter the pins' mount namespace: %w", err)
		}
		return fn()
	})
}

// runDir makes RunDir a shared mount point in the pins' namespace once.
func (p *Pins) runDir() error {
	p.once.Do(func() {
		if p.mnt == nil {
			p.err = EnsureRunDir()
			return
		}
		p.err = p.do(ensureRunDir)
	})
	return p.err
}

// Pin bind-mounts the namespace at src (a path of the caller's mount
// namespace: /proc/PID/ns/net, a pin) at RunDir/NAME. It fails if NAME
// exists.
func (p *Pins) Pin(src, name string) (string, error) {
	fd, err := unix.Open(src, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("netns %s: open %s: %w", name, src, err)
	}
	defer unix.Close(fd)
	return p.PinFD(fd, name)
}

// PinFD pins the namespace fd refers to at RunDir/NAME.
func (p *Pins) PinFD(fd int, name string) (string, error) {
	if err := p.runDir(); err != nil {
		return "", err
	}
	var path string
	err := p.do(func() (err error) {
		path, err = pinWith(p.files, fmt.Sprintf("/proc/self/fd/%d", fd), name)
		return err
	})
	return path, err
}

// Delete unpins NAME or a pin path of this namespace; a pin already gone is
// no error.
func (p *Pins) Delete(pathOrName string) error {
	if !filepath.IsAbs(pathOrName) {
		pathOrName = Path(pathOrName)
	}
	return p.do(func() error { return Delete(pathOrName) })
}

// Open opens the pin NAME for reading (a namespace file, or whatever a
// crash left at that path).
func (p *Pins) Open(name string) (*os.File, error) {
	var f *os.File
	err := p.do(func() (err error) {
		f, err = os.Open(Path(name))
		return err
	})
	return f, err
}

// PinFDAt pins the namespace fd refers to at path, a new file whose
// directory is made if needed, in the caller's mount namespace: a sandbox
// key under a daemon's exec root (/var/run/docker/netns/<key>). Delete
// removes it.
func PinFDAt(fd int, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("pin %s: %w", path, err)
	}
	return bindPin(fd, path)
}
