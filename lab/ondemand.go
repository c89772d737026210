package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"

	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostdconfig"
)

// A docker host of a lab brought up with Options.OnDemand costs little
// until it is used: up opens its daemon's listeners (the lab's socket,
// /var/run/docker.sock and the topology's TCP -H, each in the host's
// namespaces, as hostd would) and starts no hostd. The first connection to
// any of them starts hostd with copies of the listeners, as systemd's
// socket activation starts dockerd (`-H fd://`); the connection waits in
// the socket's backlog meanwhile and hostd answers it. A command run in
// the host (Host.Check: Exec, Command, `nslab exec`, `nslab shell`) starts
// the daemon first, so that what a command sees (docker0, Docker's chains)
// is there as on a host whose daemon started at up.
//
// The process that brought the lab up (its owner: a test, `nslab up`, its
// keeper) holds the listeners and starts the daemons; another process
// that opened the lab starts one by connecting to its socket.
//
// Hosts that up itself uses start at up: those with topology containers,
// and those that join a cluster store (dockerd registers in the store at
// its start).

// checkOnDemand refuses what Options.OnDemand cannot go with.
func (o Options) checkOnDemand() error {
	switch {
	case !o.OnDemand:
		return nil
	case o.Runtime != RuntimeHostd:
		return fmt.Errorf("lab: on-demand daemons are hostd's: runtime %s starts every daemon at up", o.Runtime)
	case o.Resettable:
		return errors.New("lab: on-demand daemons and Resettable: a reset puts a lab back as up left it, and an on-demand host's daemon has not started then")
	}
	return nil
}

// startsOnDemand says whether the host's daemon may wait for its first use.
func (s HostSpec) startsOnDemand() bool {
	return s.Kind == KindDocker && len(s.Containers) == 0 && s.ClusterStore == ""
}

// onDemand holds a host's listeners until its daemon starts: as files,
// which hostd inherits and on which the lab waits for a connection (a
// net.Listener cannot be waited on without accepting).
type onDemand struct {
	bin   string
	files []*os.File
	once  sync.Once // the start, or the lab's down, whichever comes first
	err   error     // why the start failed
}

// armHostd writes the host's hostd.json and opens its daemon's listeners
// in the host's namespaces; the first connection to one starts hostd.
func (h *Host) armHostd(bin string, o Options) error {
	cfg, err := h.writeHostdConfig(o)
	if err != nil {
		return err
	}
	var lns []net.Listener
	err = h.Namespaces().Do(func() error {
		var err error
		lns, err = cfg.Listen()
		return err
	})
	if err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	files, err := listenerFiles(lns)
	hostdconfig.CloseListeners(lns)
	if err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	d := &onDemand{bin: bin, files: files}
	h.lab.mu.Lock()
	h.demand = d
	h.lab.mu.Unlock()
	for _, f := range files {
		go h.startOnConnection(d, f)
	}
	return nil
}

// startOnConnection starts the host's daemon once the listening socket f
// has a connection waiting; it returns without when f is closed (the
// daemon started on another of its listeners, or the lab goes down).
func (h *Host) startOnConnection(d *onDemand, f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	// Read calls the function, and again once the socket is readable: a
	// listener is when a connection waits to be accepted.
	waited := false
	if err := rc.Read(func(uintptr) bool { done := waited; waited = true; return done }); err != nil {
		return
	}
	h.startDemanded(d)
}

// startDemanded starts the host's daemon with its listeners, once, and
// waits until it listens. The pid goes into the lab's state as soon as the
// process exists, as up records the daemons it starts: a Down from another
// process then kills hostd first. The connection that started it may be
// answered before that write: another process learns the pid from
// hostd's pid file meanwhile (Host.HostdPID). The lab's own copies of the
// listeners are closed either way.
func (h *Host) startDemanded(d *onDemand) error {
	d.once.Do(func() {
		defer closeFiles(d.files)
		if d.err = h.launchHostd(d.bin, d.files); d.err != nil {
			return
		}
		if d.err = h.lab.recordDaemonPIDs([]*Host{h}); d.err != nil {
			return
		}
		d.err = h.waitReady(context.Background())
	})
	return d.err
}

// disarm closes every listener still waiting for a first use, after any
// start under way: nothing starts once the lab's down has begun.
func (l *Lab) disarm() {
	for _, h := range l.hosts {
		l.mu.Lock()
		d := h.demand
		l.mu.Unlock()
		if d == nil {
			continue
		}
		d.once.Do(func() {
			d.err = errors.New("the lab went down")
			closeFiles(d.files)
		})
	}
}

// ensureDaemon starts the daemon of a docker host of an on-demand lab
// before the host is used, and waits until it listens: at once in the
// process that holds the host's listeners, through a ping on its socket
// from any other.
func (h *Host) ensureDaemon() error {
	if !h.lab.state.OnDemand || h.socket == "" {
		return nil
	}
	h.lab.mu.Lock()
	d, pid := h.demand, h.hostdPID()
	h.lab.mu.Unlock()
	if d != nil {
		if err := h.startDemanded(d); err != nil {
			return fmt.Errorf("host %s: start its daemon: %w", h.Name, err)
		}
		return nil
	}
	if pid > 0 {
		return nil
	}
	return h.pingSocket()
}

// pingSocket asks the host's socket for /_ping, which starts an on-demand
// daemon, and waits for the answer.
func (h *Host) pingSocket() error {
	c, err := dockerClient(h.socket)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hostdTimeout)
	defer cancel()
	if _, err := c.Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("host %s: its daemon did not answer on %s (%v); last lines of %s:\n%s", h.Name, h.socket, err, h.logPath(), Tail(h.logPath(), 20))
	}
	return nil
}

// listenerFiles returns a copy of each listener's socket as a file that
// Go's poller waits on (the socket is non-blocking), for a child to
// inherit.
func listenerFiles(lns []net.Listener) ([]*os.File, error) {
	var files []*os.File
	for _, ln := range lns {
		f, err := listenerFile(ln)
		if err != nil {
			closeFiles(files)
			return nil, fmt.Errorf("listener %s: %w", ln.Addr(), err)
		}
		files = append(files, f)
	}
	return files, nil
}

func listenerFile(ln net.Listener) (*os.File, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil, errors.New("no descriptor to hand on")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	dup := -1
	var dupErr error
	if err := rc.Control(func(fd uintptr) { dup, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, dupErr
	}
	return os.NewFile(uintptr(dup), ln.Addr().String()), nil
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
