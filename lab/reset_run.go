package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// What a host keeps of its own beyond its network namespace: its /run, a
// tmpfs of its mount namespace (hostns.go), where `ip netns add` pins a
// namespace under /var/run/netns (binding /run/netns onto itself first, as
// iproute2 does), and where a student may leave any file; and, on a host
// with Open vSwitch, the switch's bridges, which live in ovsdb-server's
// database (in that /run) and in ovs-vswitchd, not only as the bridge's
// device that the kernel shows. Reset unmounts what was mounted under /run
// since up, removes what was made there, and deletes the bridges made
// since, through ovs-vsctl as a student would.
//
// The daemons' own directories under /run are theirs, and what is mounted
// there: the sandboxes' pins in Docker's exec root go with the containers
// the daemons remove (dockerd's pin of the host's namespace, netns/default,
// made for the first --network host container, stays as long as it runs),
// dockerd's and containerd's sockets and state there are named per start,
// and Open vSwitch's run directory holds its database and control sockets
// (its bridges are compared instead).
var daemonRunPaths = []string{
	"/run/docker", "/run/docker.sock", "/run/docker.pid", "/run/containerd", "/run/openvswitch",
}

// hostState is a host's own /run and switch as up left them.
type hostState struct {
	// Run are the entries of /run, a directory's with a trailing /, not
	// below a mount point or a daemon's path.
	Run []string `json:"run"`
	// Mounts are the mount points under /run.
	Mounts []string `json:"mounts"`
	// Bridges are Open vSwitch's bridges (hosts with ovs: true).
	Bridges []string `json:"bridges,omitempty"`
	// Unmade says that the host's UTS and mount namespaces are not made
	// yet (a plain host's, at its first use: see hostns.go); Run and
	// Mounts are then empty.
	Unmade bool `json:"unmade,omitempty"`
}

func (s *hostState) facts() []string {
	var out []string
	if s.Unmade {
		out = append(out, "UTS and mount namespaces not made yet")
	}
	for _, e := range s.Run {
		out = append(out, "run "+e)
	}
	for _, m := range s.Mounts {
		out = append(out, "mount "+m)
	}
	for _, b := range s.Bridges {
		out = append(out, "ovs bridge "+b)
	}
	return out
}

// readHosts reads every host's /run, and its bridges when it runs Open
// vSwitch, all at once.
func (l *Lab) readHosts(ctx context.Context) (map[string]*hostState, error) {
	var (
		mu   sync.Mutex
		errs []error
		out  = map[string]*hostState{}
	)
	ovs, err := l.ovsCtl()
	if err != nil {
		return nil, err
	}
	err = forEach(ctx, l.hosts, 16, func(ctx context.Context, h *Host) error {
		s, err := h.readState(ctx, ovs)
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
		out[h.Name] = s
		return nil
	})
	return out, errors.Join(append(errs, err)...)
}

// ovsCtl is ovs-vsctl's path when a host of the lab runs Open vSwitch.
func (l *Lab) ovsCtl() (string, error) {
	if !l.topo.hasOVS() {
		return "", nil
	}
	p, err := FindOVS()
	return p.vsctl, err
}

func (h *Host) readState(ctx context.Context, vsctl string) (*hostState, error) {
	if !h.hostNamespacesMade() {
		return &hostState{Unmade: true}, nil
	}
	s := &hostState{}
	err := netns.Namespaces{Mnt: h.MountNS()}.Do(func() error {
		var err error
		s.Run, s.Mounts, err = readRun()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("host %s: /run: %w", h.Name, err)
	}
	if h.Spec.OVS && vsctl != "" {
		r, err := h.Exec(ctx, vsctl, "--timeout=5", "list-br")
		if err != nil || r.ExitCode != 0 {
			return nil, fmt.Errorf("host %s: ovs-vsctl list-br: %v %s", h.Name, err, strings.TrimSpace(r.Stderr))
		}
		s.Bridges = strings.Fields(r.Stdout)
	}
	return s, nil
}

// readRun lists the caller's thread's /run (see hostState).
func readRun() (entries, mounts []string, err error) {
	ms, err := kernel.ThreadMounts()
	if err != nil {
		return nil, nil, err
	}
	for _, m := range ms {
		if under(m.Point, "/run") && m.Point != "/run" && !daemonRunPath(m.Point) && !slices.Contains(mounts, m.Point) {
			mounts = append(mounts, m.Point)
		}
	}
	sort.Strings(mounts)
	err = filepath.WalkDir("/run", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // gone while walked
			}
			return err
		}
		if p == "/run" {
			return nil
		}
		if daemonRunPath(p) || slices.Contains(mounts, p) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil // SkipDir on a file would skip its siblings
		}
		if d.IsDir() {
			p += "/"
		}
		entries = append(entries, p)
		return nil
	})
	return entries, mounts, err
}

func daemonRunPath(p string) bool {
	return slices.ContainsFunc(daemonRunPaths, func(d string) bool { return under(p, d) })
}

// resetHosts puts every host's /run and switch back as base has them.
func (l *Lab) resetHosts(ctx context.Context, base map[string]*hostState) error {
	ovs, err := l.ovsCtl()
	if err != nil {
		return err
	}
	return forEach(ctx, l.hosts, 16, func(ctx context.Context, h *Host) error {
		s := base[h.Name]
		if s == nil {
			return fmt.Errorf("host %s: not in the baseline", h.Name)
		}
		return h.resetState(ctx, s, ovs)
	})
}

func (h *Host) resetState(ctx context.Context, s *hostState, vsctl string) error {
	if h.Spec.OVS && vsctl != "" {
		now, err := h.readState(ctx, vsctl)
		if err != nil {
			return err
		}
		for _, b := range now.Bridges {
			if slices.Contains(s.Bridges, b) {
				continue
			}
			if r, err := h.Exec(ctx, vsctl, "--timeout=5", "--if-exists", "del-br", b); err != nil || r.ExitCode != 0 {
				return fmt.Errorf("host %s: ovs-vsctl del-br %s: %v %s", h.Name, b, err, strings.TrimSpace(r.Stderr))
			}
		}
	}
	if s.Unmade {
		// Up left the host without them: the ones made since go.
		return h.dropHostNamespaces()
	}
	err := netns.Namespaces{Mnt: h.MountNS()}.Do(func() error { return resetRun(s) })
	if err != nil {
		return fmt.Errorf("host %s: /run: %w", h.Name, err)
	}
	return nil
}

// resetRun, on a thread in the host's mount namespace, detaches the
// mounts under /run that s lacks (the deepest first: a namespace's pin
// before the /run/netns it lies on) and removes the entries s lacks.
func resetRun(s *hostState) error {
	ms, err := kernel.ThreadMounts()
	if err != nil {
		return err
	}
	// The kernel lists a mount after the one it lies on.
	for i := len(ms) - 1; i >= 0; i-- {
		p := ms[i].Point
		if !under(p, "/run") || p == "/run" || slices.Contains(s.Mounts, p) || daemonRunPath(p) {
			continue
		}
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("detach %s: %w", p, err)
		}
	}
	entries, _, err := readRun()
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if slices.Contains(s.Run, e) {
			continue
		}
		// A directory goes with what it holds, listed after it.
		if err := os.RemoveAll(strings.TrimSuffix(e, "/")); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
