package hostd

import (
	"fmt"
	"os/exec"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostd/proc"
	"github.com/nslab/nslab/hostd/rootfs/launch"
	"github.com/nslab/nslab/netns"
)

// initPool keeps a container init forked ahead of time. Forking it with
// its namespaces, executing hostd's binary and starting Go's runtime are
// most of what an init costs, and none of it depends on the container: an
// idle init waits for its container (launch.Init.Hand), so a start pays
// only for the mounts, and those run while the networks are joined.
type initPool struct {
	mu      sync.Mutex
	idle    []pooledInit
	filling bool
	closed  bool
}

type pooledInit struct {
	in    *launch.Init
	child *proc.Child
}

// initPoolSize is how many idle inits a host keeps: one is enough for
// starts one after another (it is forked again while the next request
// comes); concurrent starts fork their own.
const initPoolSize = 1

// initFlags are the namespaces of a container's own: PID, mount, IPC, UTS
// (a host-mode container joins the host's UTS namespace when handed).
const initFlags = unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS

// takeInit returns an init for a container, an idle one when there is
// one. The caller has the pool filled again (fillInits) once its start is
// over, so that the next init's fork does not compete with it for the CPU;
// the pool fills only once a first container started: a host that runs
// none keeps none.
func (d *Daemon) takeInit() (*launch.Init, *proc.Child, error) {
	p := &d.inits
	p.mu.Lock()
	var pi pooledInit
	if n := len(p.idle); n > 0 {
		pi = p.idle[n-1]
		p.idle = p.idle[:n-1]
	}
	p.mu.Unlock()
	if pi.in != nil {
		return pi.in, pi.child, nil
	}
	return d.forkInit()
}

// fillInits forks idle inits until the pool is full (one filler at a
// time).
func (d *Daemon) fillInits() {
	p := &d.inits
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
	for len(p.idle) < initPoolSize && !p.closed {
		p.mu.Unlock()
		in, child, err := d.forkInit()
		p.mu.Lock()
		if err != nil {
			p.mu.Unlock()
			d.log.Printf("fork an idle container init: %v", err)
			return
		}
		if p.closed {
			p.mu.Unlock()
			endInit(in, child)
			return
		}
		p.idle = append(p.idle, pooledInit{in, child})
	}
	p.mu.Unlock()
}

// forkInit forks an init from a throwaway thread that joined the mount
// template: the init's mount namespace is a copy of it.
func (d *Daemon) forkInit() (*launch.Init, *proc.Child, error) {
	var in *launch.Init
	var child *proc.Child
	err := netns.OnThread(func() error {
		if err := d.mounts.Join(); err != nil {
			return err
		}
		var err error
		in, err = launch.Fork(launch.Options{Cloneflags: initFlags, Start: func(cmd *exec.Cmd) error {
			p, err := d.reaper.Start(cmd, cmd.Start)
			child = p
			return err
		}})
		return err
	})
	if err != nil {
		if child != nil {
			endInit(nil, child)
		}
		return nil, nil, fmt.Errorf("container init: %w", err)
	}
	return in, child, nil
}

// endInit ends an init that will not run a container and waits for it.
func endInit(in *launch.Init, child *proc.Child) {
	if in != nil {
		in.Close()
	}
	child.Signal(unix.SIGKILL)
	<-child.Exit
	child.Release()
}

// closeInits ends the idle inits, when hostd shuts down.
func (d *Daemon) closeInits() {
	p := &d.inits
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, pi := range idle {
		endInit(pi.in, pi.child)
	}
}
