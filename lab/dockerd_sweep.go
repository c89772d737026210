package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns/kernel"
)

// dockerdTools are the programs of a dockerd runtime. dockerd and the
// host's containerd carry the lab's state directory in their arguments
// (--data-root, --pidfile; --config); containerd's shims name the host's
// own /var/run/docker and are found by their namespaces, the host's.
var dockerdTools = map[string]bool{
	"dockerd": true, "containerd": true, "containerd-shim": true,
	"containerd-shim-runc-v1": true, "containerd-shim-runc-v2": true,
}

// sweepDockerd removes what a lab's dockerds can leave outside the lab's
// namespaces when they did not stop by themselves (SIGKILL, an owner that
// died): their processes, the containers in the cgroups under
// /nslab-<lab>-<host> (their network namespaces are pinned in the host's
// mount namespace, not in /run/netns), and those cgroups. Labs that never
// ran dockerd have none of it.
func sweepDockerd(ctx context.Context, dir, id string) error {
	var errs []error
	prefix := filepath.Clean(dir) + "/"
	left := killUntilGone(ctx, func() []proc { return append(toolsOf(prefix), cgroupProcs(id)...) })
	if len(left) > 0 {
		errs = append(errs, fmt.Errorf("lab %s: %d daemon or container processes survived SIGKILL (first: pid %d)", id, len(left), left[0].pid))
	}
	if err := removeCgroups(id); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// toolsOf lists the dockerd, containerd and shim processes whose arguments
// name a path under prefix.
func toolsOf(prefix string) []proc {
	self := os.Getpid()
	return scanProcs(func(pid int) (proc, bool) {
		if pid <= 1 || pid == self {
			return proc{}, false
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil || len(b) == 0 {
			return proc{}, false
		}
		args := strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
		if !dockerdTools[filepath.Base(args[0])] {
			return proc{}, false
		}
		for _, a := range args[1:] {
			if strings.HasPrefix(a, prefix) || strings.HasPrefix(a, "unix://"+prefix) {
				start, ok := procStart(pid)
				return proc{pid: pid, start: start}, ok
			}
		}
		return proc{}, false
	})
}

// cgroupMounts lists the mount points of the cgroup hierarchies (v1 and v2).
func cgroupMounts() []string {
	ms, _ := kernel.Mounts()
	var out []string
	for _, m := range ms {
		if m.FSType == "cgroup" || m.FSType == "cgroup2" {
			out = append(out, m.Point)
		}
	}
	return out
}

// labCgroups lists the cgroup directories of lab id's daemons in every
// hierarchy, children before their parents.
func labCgroups(id string) []string {
	var out []string
	for _, m := range cgroupMounts() {
		tops, _ := filepath.Glob(filepath.Join(m, cgroupPrefix(id)+"*"))
		for _, top := range tops {
			filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					out = append(out, path)
				}
				return nil
			})
		}
	}
	// Deeper paths first: a cgroup can be removed only without children.
	sort.Slice(out, func(i, j int) bool { return strings.Count(out[i], "/") > strings.Count(out[j], "/") })
	return out
}

// cgroupProcs lists the processes in the cgroups of lab id's daemons: the
// containers and whatever `docker exec` started in them.
func cgroupProcs(id string) []proc {
	seen := map[int]bool{}
	var out []proc
	for _, cg := range labCgroups(id) {
		b, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil || seen[pid] || pid <= 1 || pid == os.Getpid() {
				continue
			}
			seen[pid] = true
			if start, ok := procStart(pid); ok {
				out = append(out, proc{pid: pid, start: start})
			}
		}
	}
	return out
}

// removeCgroups removes the (by now empty) cgroups of lab id's daemons.
func removeCgroups(id string) error {
	var errs []error
	for _, cg := range labCgroups(id) {
		if err := unix.Rmdir(cg); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("lab %s: remove cgroup %s: %w", id, cg, err))
		}
	}
	return errors.Join(errs...)
}

// UnmountUnder detaches every mount point under prefix in this mount
// namespace: the hosts' namespace pins with their directory, and whatever
// a daemon started some other way left here (a daemon in a host mounts in
// the host's own mount namespace). Outermost first: a lazy unmount takes
// what is mounted below along, and the kernel's grace period is then
// waited for once per tree, not once per pin.
func UnmountUnder(prefix string) error {
	ms, err := kernel.Mounts()
	if err != nil {
		return err
	}
	var points []string
	for _, m := range ms {
		if strings.HasPrefix(m.Point, prefix) {
			points = append(points, m.Point)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) < len(points[j]) })
	var errs []error
	for _, p := range points {
		errs = append(errs, detach(p))
	}
	return errors.Join(errs...)
}

// unmountTree detaches everything mounted under dir, then dir's own mount
// (a lab's state or data directory's tmpfs; none for a lab that crashed
// before mounting it).
func unmountTree(dir string) error {
	dir = filepath.Clean(dir)
	return errors.Join(UnmountUnder(dir+"/"), detach(dir))
}

// detach lazily unmounts what is mounted at path; nothing mounted there,
// or no path, is no error.
func detach(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	return nil
}
