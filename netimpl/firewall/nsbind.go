package firewall

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// boundNS is the network namespace a backend was created in, held open by a
// file descriptor so that it can be entered again from any goroutine.
type boundNS struct {
	fd   int
	path string // /proc/self/fd/<fd>, which netns.Do can open
	// exec runs each call (Options.Exec); nil runs it as it is.
	exec func(func() error) error
}

// bindThreadNS holds the namespace of the calling thread, which is the one
// the caller means: the host's namespace in hostd, the one of netns.Do in a
// test. Each call in it then runs under exec (nil: as it is).
func bindThreadNS(exec func(func() error) error) (*boundNS, error) {
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("firewall: open own network namespace: %w", err)
	}
	return &boundNS{fd: fd, path: fmt.Sprintf("/proc/self/fd/%d", fd), exec: exec}, nil
}

// do runs fn on a throwaway thread inside the bound namespace; a tool that
// fn execs inherits that thread's namespace.
func (b *boundNS) do(fn func() error) error {
	if b == nil || b.fd < 0 {
		return ErrClosed
	}
	if b.exec != nil {
		return b.exec(func() error { return netns.Do(b.path, fn) })
	}
	return netns.Do(b.path, fn)
}

func (b *boundNS) close() error {
	if b == nil || b.fd < 0 {
		return nil
	}
	err := unix.Close(b.fd)
	b.fd = -1
	return err
}
