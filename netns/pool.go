package netns

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Fresh is a new network namespace with only its loopback, up, held by a
// file descriptor (nothing pins it yet) and with a route netlink handle
// bound to it.
type Fresh struct {
	FD     int
	Handle *netlink.Handle
}

// Close releases a namespace nobody pinned: it goes away with the fd.
func (f Fresh) Close() {
	if f.Handle != nil {
		f.Handle.Close()
	}
	if f.FD >= 0 {
		unix.Close(f.FD)
	}
}

// NewFresh makes a Fresh namespace on a throwaway thread. setup, if not
// nil, runs last on that thread, inside the new namespace (to write its
// /proc/sys/net, say).
func NewFresh(setup func() error) (Fresh, error) { return newFresh(setup, false) }

// newFresh is NewFresh; in the background, the thread runs at the lowest
// priority (nice 19: a thread's own on Linux, gone with it).
func newFresh(setup func() error, background bool) (Fresh, error) {
	f := Fresh{FD: -1}
	err := onThread(func() error {
		if background {
			if err := unix.Setpriority(unix.PRIO_PROCESS, 0, 19); err != nil {
				return fmt.Errorf("lower the thread's priority: %w", err)
			}
		}
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		var err error
		if f.FD, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("open namespace: %w", err)
		}
		if f.Handle, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		// setup runs while the loopback is still down: a setting such as
		// disable_ipv6 then holds from its start (it never gets ::1 to
		// lose again).
		if setup != nil {
			if err := setup(); err != nil {
				return err
			}
		}
		// A fresh namespace has only its loopback, always at index 1.
		lo := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}}
		if err := f.Handle.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up: %w", err)
		}
		return nil
	})
	if err != nil {
		f.Close()
		return Fresh{FD: -1}, fmt.Errorf("netns: %w", err)
	}
	return f, nil
}

// Pool keeps a few Fresh namespaces made ahead of time, refilled in the
// background, so that a container start does not wait for the kernel to
// build a namespace: creating one is the costliest step of a start, and it
// needs nothing of the container. The filler's thread has the lowest
// priority: it works on what the starts leave of the CPU (with one client
// starting containers one after another, a core is mostly idle) instead of
// taking it from them. Namespaces in the pool are pinned nowhere: if the
// process dies they vanish with it.
//
// A namespace taken is made again once its taker says so (Refill), not
// at once: the kernel builds a namespace in one stretch of about a
// millisecond that it does not preempt, whatever the filler's priority,
// and begun as the start that took one goes on, it held up that start's
// own work (its endpoint's join waited 0.8 ms for a CPU on two).
type Pool struct {
	setup func() error
	ready chan Fresh
	// room holds a token for each namespace the filler may make: one
	// taken per namespace made, one given back per namespace handed out
	// and refilled (owed until then). So no more than size namespaces
	// ever wait unused (each costs the kernel as much as a container's
	// start), and the filler holds none of its own beyond them.
	room chan struct{}
	owed atomic.Int32
	stop chan struct{}
	done sync.WaitGroup
	once sync.Once
}

// NewPool starts a pool of size namespaces, each made by NewFresh(setup).
func NewPool(size int, setup func() error) *Pool {
	size = max(size, 1)
	p := &Pool{setup: setup, ready: make(chan Fresh, size), room: make(chan struct{}, size), stop: make(chan struct{})}
	for range size {
		p.room <- struct{}{}
	}
	p.done.Add(1)
	go p.fill()
	return p
}

func (p *Pool) fill() {
	defer p.done.Done()
	for {
		select {
		case <-p.room:
		case <-p.stop:
			return
		}
		f, err := newFresh(p.setup, true)
		if err != nil {
			p.room <- struct{}{}
			// Get makes its own and reports the error to its caller;
			// the filler only waits before it tries again.
			select {
			case <-p.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		p.ready <- f // never blocks: ready has room for every token
	}
}

// ErrPoolClosed is returned by Get after Close.
var ErrPoolClosed = errors.New("netns: pool closed")

// Get takes a namespace from the pool, or makes one when the pool is
// empty. The caller owns it, and calls Refill when the pool may make
// another in its place. A pool found empty makes again whatever was taken
// and not yet refilled: it does not stay empty for a taker that never
// says.
func (p *Pool) Get() (Fresh, error) {
	select {
	case <-p.stop:
		return Fresh{FD: -1}, ErrPoolClosed
	default:
	}
	select {
	case f := <-p.ready:
		p.owed.Add(1) // f's token, until Refill
		return f, nil
	default:
		p.Refill()
		return NewFresh(p.setup)
	}
}

// Refill lets the filler make again, in the background, the namespaces
// taken since the last Refill: a start calls it once the CPU is no
// longer its own work's (its endpoints joined).
func (p *Pool) Refill() {
	for n := p.owed.Swap(0); n > 0; n-- {
		p.room <- struct{}{} // never blocks: the tokens of namespaces taken
	}
}

// Close stops the refilling and releases the namespaces still waiting.
func (p *Pool) Close() {
	p.once.Do(func() {
		close(p.stop)
		p.done.Wait()
		for {
			select {
			case f := <-p.ready:
				f.Close()
			default:
				return
			}
		}
	})
}
