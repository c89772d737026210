// Package initpool keeps container inits forked ahead of time. Forking an
// init with its namespaces, executing hostd's binary and starting Go's
// runtime are most of what an init costs, and none of it depends on the
// container: an idle init waits for its container (launch.Init.Hand), so
// a start pays only for the mounts, and those run while the networks are
// joined.
package initpool

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostd/proc"
	"github.com/nslab/nslab/hostd/rootfs/launch"
)

// Size is how many idle inits a pool keeps: one is enough for starts one
// after another (it is forked again while the next request comes);
// concurrent starts fork their own.
const Size = 1

// Flags are the namespaces of a container's own: PID, mount, IPC, UTS (a
// host-mode container joins the host's UTS namespace when handed).
const Flags = unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS

// A Pool holds idle inits. Its zero value with Fork and Log set is ready.
type Pool struct {
	// Fork forks a new init (in the host's mount template, with Flags).
	Fork func() (*launch.Init, *proc.Child, error)
	// Log reports a fork that failed while the pool filled.
	Log func(format string, a ...any)

	mu      sync.Mutex
	idle    []pooled
	filling bool
	closed  bool
}

type pooled struct {
	in    *launch.Init
	child *proc.Child
}

// Take returns an init for a container, an idle one when there is one.
// The caller has the pool filled again (Fill) once its start is over, so
// that the next init's fork does not compete with it for the CPU; the pool
// fills only once a first container started: a host that runs none keeps
// none.
func (p *Pool) Take() (*launch.Init, *proc.Child, error) {
	p.mu.Lock()
	var pi pooled
	if n := len(p.idle); n > 0 {
		pi = p.idle[n-1]
		p.idle = p.idle[:n-1]
	}
	p.mu.Unlock()
	if pi.in != nil {
		return pi.in, pi.child, nil
	}
	return p.Fork()
}

// Fill forks idle inits until the pool is full (one filler at a time).
func (p *Pool) Fill() {
	p.mu.Lock()
	if p.filling || p.closed {
		p.mu.Unlock()
		return
	}
	p.filling = true
	defer func() {
		p.mu.Lock()
		p.filling = false
		p.mu.Unlock()
	}()
	for len(p.idle) < Size && !p.closed {
		p.mu.Unlock()
		in, child, err := p.Fork()
		p.mu.Lock()
		if err != nil {
			p.mu.Unlock()
			p.Log("fork an idle container init: %v", err)
			return
		}
		if p.closed {
			p.mu.Unlock()
			End(in, child)
			return
		}
		p.idle = append(p.idle, pooled{in, child})
	}
	p.mu.Unlock()
}

// End ends an init that will not run a container and waits for it; in
// may be nil (a fork that failed after its process started).
func End(in *launch.Init, child *proc.Child) {
	if in != nil {
		in.Close()
	}
	child.Signal(unix.SIGKILL)
	<-child.Exit
	child.Release()
}

// Close ends the idle inits, when hostd shuts down; the pool fills no
// more.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, pi := range idle {
		End(pi.in, pi.child)
	}
}
