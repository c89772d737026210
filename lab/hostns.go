package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// A virtual host is a machine you log into: besides its network namespace
// it has a UTS namespace (hostname = host name) and a mount namespace of its
// own, both pinned for the host's whole life (from up, or from its first
// use: see below) by bind mounts in the lab's state directory,
// <root>/<lab>/ns/<host>.uts and <host>.mnt. Everything the lab runs in the host (hostd or dockerd, the
// etcd member, Open vSwitch, `nslab exec` and `nslab shell`) enters all
// three, so a process started there sees what a shell on that machine sees.
//
// The host's mount namespace is a copy of the machine's, as on a Mininet
// host: the machine's files stay visible and shared, except
//
//   - /run (and /var/run, its link on Debian) is a fresh tmpfs, the host's
//     own: /var/run/docker.sock is its daemon, /var/run/docker/netns its
//     sandboxes, and /var/run/netns does not exist until something in the
//     host makes it, as on a machine just booted. What is made there lives
//     and dies with the host and never appears on the machine;
//   - /sys is a sysfs mounted from inside the host's network namespace, so
//     /sys/class/net, `brctl show` and `brctl showmacs` show the host's own
//     devices (the machine's cgroup and other mounts under /sys are kept);
//   - /etc/resolv.conf names the topology's resolvers for the host (a
//     comment when it has none): nothing in a lab may ask the machine's.
//
// A plain host that runs nothing of the lab's (no daemon, etcd member or
// switch) gets its UTS and mount namespaces, and its state directory, at
// its first use rather than at up: the first exec, shell or file opened
// in it (Host.Check). They are most of what such a host costs beyond the
// kernel's own work — 0.6 of the 1.6 ms a plain host took to come up and
// go down (BenchmarkUpPlain, 100 hosts) — and most hosts of a large lab
// are never logged into. A file lock in the lab's pin directory lets
// processes (the lab's owner, nslab exec, a test) make them once. Reset
// drops the ones made since up, as up had not made them.
//
// The host's state directory, <root>/<lab>/<host> (its daemon's socket,
// configuration, logs and data), is bound inside the host at the same path
// when the root lies under /run: every path the lab writes into a daemon's
// configuration then means the same file on both sides, and the daemon's
// sockets and logs stay where the machine looks for them. Only the host's
// own directory is bound, not the lab's: a host sees neither the other
// hosts' daemons nor other labs. A symlink could not do it, as the host's
// /run has nothing of the machine's to point at.

// nsDir is the directory, under the lab's state directory, of the hosts'
// UTS and mount namespace pins. The kernel binds a mount namespace's file
// only onto a mount that propagates nowhere: the state directory's tmpfs
// is one (see reserve).
const nsDir = "ns"

// UTSNS returns the pin of the host's UTS namespace.
func (h *Host) UTSNS() string { return filepath.Join(h.lab.dir, nsDir, h.Name+".uts") }

// MountNS returns the pin of the host's mount namespace.
func (h *Host) MountNS() string { return filepath.Join(h.lab.dir, nsDir, h.Name+".mnt") }

// Namespaces returns the host's network, UTS and mount namespaces: what a
// process started in the host enters.
func (h *Host) Namespaces() netns.Namespaces {
	return netns.Namespaces{Net: h.NetNS(), UTS: h.UTSNS(), Mnt: h.MountNS()}
}

// Open opens the file at path as the host sees it, in its mount namespace
// (/var/run/netns/NAME that a student pinned, /var/run/docker/netns/KEY):
// the descriptor works from the machine, and /proc/self/fd/N names the
// namespace it refers to.
func (h *Host) Open(path string) (*os.File, error) {
	if err := h.Check(); err != nil {
		return nil, err
	}
	var f *os.File
	err := netns.Namespaces{Mnt: h.MountNS()}.Do(func() (err error) {
		f, err = os.Open(path)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", h.Name, err)
	}
	return f, nil
}

// stateDir is the host's own state directory, <root>/<lab>/<host>, made
// for every host with its namespaces.
func (h *Host) stateDir() string { return filepath.Join(h.lab.dir, h.Name) }

// makeNSDir makes the lab's directory of namespace pins.
func (l *Lab) makeNSDir() error {
	if err := os.Mkdir(filepath.Join(l.dir, nsDir), 0o755); err != nil {
		return fmt.Errorf("lab %s: namespace pins: %w", l.ID(), err)
	}
	return nil
}

// newHostTemplate makes the mount namespace that every host's own is
// copied from during one build: a private copy of the machine's mount
// table with nothing mounted under /run. The copies of the machine's
// /run/netns pins would hold other labs' namespaces alive; detaching them
// once here, rather than in each host, spares every host the kernel's wait
// for a grace period that each unmount costs. It is held by the file.
func newHostTemplate() (*hostTemplate, error) {
	// The mounts on /sys (the machine's, which every host keeps): read
	// once, as the machine's mount table grows by three mounts per host.
	machine, err := kernel.Mounts()
	if err != nil {
		return nil, fmt.Errorf("hosts' mount template: %w", err)
	}
	t := &hostTemplate{sys: childrenOf(machine, "/sys")}
	var f *os.File
	err = netns.OnThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("unshare mount namespace: %w", err)
		}
		// The copy's mounts are peers of the machine's where the
		// machine's are shared: cut every tie first.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make / rprivate: %w", err)
		}
		mounts, err := kernel.ThreadMounts()
		if err != nil {
			return err
		}
		if err := detachAt(mounts, "/run"); err != nil {
			return err
		}
		f, err = os.Open("/proc/thread-self/ns/mnt")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hosts' mount template: %w", err)
	}
	t.mnt = f
	return t, nil
}

// hostTemplate is what every host of one build is made from: the mount
// namespace its own is a copy of, and the machine's mount points on /sys
// it keeps.
type hostTemplate struct {
	mnt *os.File
	sys []string
}

func (t *hostTemplate) Close() error { return t.mnt.Close() }

// namespacesAtUp says whether the host's UTS and mount namespaces are made
// at up: it runs a program of the lab from the start.
func (s HostSpec) namespacesAtUp() bool {
	return s.Kind == KindDocker || s.Etcd != nil || s.OVS
}

// hostNamespacesMade says whether the host's UTS and mount namespaces are
// pinned: the mount namespace's pin, made last, holds a namespace.
func (h *Host) hostNamespacesMade() bool {
	f, err := os.Open(h.MountNS())
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
	return err == nil
}

// ensureHostNamespaces makes the host's UTS and mount namespaces unless
// they are there: under the host's lock, so that one process makes them,
// and after removing what a maker that died half-way left.
func (h *Host) ensureHostNamespaces() error {
	if h.hostNamespacesMade() {
		return nil
	}
	unlock, err := lockFile(filepath.Join(h.lab.dir, nsDir, h.Name+".lock"))
	if err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	defer unlock()
	if h.hostNamespacesMade() {
		return nil
	}
	if err := h.dropHostNamespaces(); err != nil {
		return err
	}
	template, err := newHostTemplate()
	if err != nil {
		return err
	}
	defer template.Close()
	return h.makeHostNamespaces(template)
}

// dropHostNamespaces unpins the host's UTS and mount namespaces (those of
// a plain host, made after up, which reset drops); each goes with its
// last process.
func (h *Host) dropHostNamespaces() error {
	for _, pin := range []string{h.MountNS(), h.UTSNS()} {
		if err := netns.Delete(pin); err != nil {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
	}
	return nil
}

// lockFile takes an exclusive lock on path (made if missing), waiting for
// the process that holds it.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// makeHostNamespaces makes the host's UTS and mount namespaces (its
// network namespace exists), the latter a copy of the template, and the
// host's state directory.
func (h *Host) makeHostNamespaces(template *hostTemplate) error {
	dir := h.stateDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte(resolvConf(h.Spec.DNS)), 0o644); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	keep, err := keptMounts(dir, template.sys)
	defer func() {
		for _, k := range keep {
			unix.Close(k.fd)
		}
	}()
	if err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	m := hostMounts{hostname: h.Name, keep: keep, resolv: resolv}
	base := netns.Namespaces{Net: h.NetNS(), Mnt: fmt.Sprintf("/proc/self/fd/%d", template.mnt.Fd())}
	if _, err := netns.NewHost(base, h.UTSNS(), h.MountNS(), m.setup); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	return nil
}

// keptMounts copies, from the machine's mount table, what the host keeps
// of the mount points it replaces: the host's state directory when it lies
// under /run, and the mounts on /sys (sys: the cgroup hierarchies dockerd
// needs).
func keptMounts(stateDir string, sys []string) ([]keptMount, error) {
	var keep []keptMount
	if under(stateDir, "/run") {
		fd, err := unix.OpenTree(unix.AT_FDCWD, stateDir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("clone %s: %w", stateDir, err)
		}
		keep = append(keep, keptMount{fd: fd, at: stateDir})
	}
	for _, p := range sys {
		fd, err := unix.OpenTree(unix.AT_FDCWD, p, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err != nil {
			return keep, fmt.Errorf("clone %s: %w", p, err)
		}
		keep = append(keep, keptMount{fd: fd, at: p})
	}
	return keep, nil
}

// resolvConf is a virtual host's /etc/resolv.conf: the topology's
// resolvers. dockerd copies it into default-bridge containers and has its
// embedded DNS forward to it. Without resolvers dockerd falls back to
// 8.8.8.8/8.8.4.4, which nothing in the lab can reach.
func resolvConf(dns []netip.Addr) string {
	var b strings.Builder
	if len(dns) == 0 {
		b.WriteString("# nslab: no resolver configured for this virtual host; nothing outside the lab is ever queried\n")
	}
	for _, a := range dns {
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	return b.String()
}

// hostMounts builds a host's mount namespace, on the thread that made it
// as a copy of the template (see the top of this file).
type hostMounts struct {
	hostname string
	keep     []keptMount // copies of the machine's mounts, attached again
	resolv   string      // the host's resolv.conf, a file in its state dir
}

// setup runs inside the new namespaces; it may fail half-way, as the
// namespaces it works on are then dropped unpinned. It only mounts, over
// what the template has at /run and /sys: no unmount, so no wait.
func (m hostMounts) setup() error {
	if err := unix.Sethostname([]byte(m.hostname)); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	if err := unix.Mount("tmpfs", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs on /run: %w", err)
	}
	if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount sysfs on /sys: %w", err)
	}
	for _, k := range m.keep {
		if err := k.attach(); err != nil {
			return err
		}
	}
	// Debian's /var/lock is a link to /run/lock, a directory anyone may
	// lock in.
	if err := os.Mkdir("/run/lock", 0o755); err != nil {
		return err
	}
	if err := os.Chmod("/run/lock", os.ModeSticky|0o777); err != nil {
		return err
	}
	return bindResolvConf(m.resolv)
}

// keptMount is a detached copy of a mount, attached again at the same
// path once the mounts above it are replaced.
type keptMount struct {
	fd int
	at string
}

func (k keptMount) attach() error {
	if err := os.MkdirAll(k.at, 0o755); err != nil {
		return err
	}
	if err := unix.MoveMount(k.fd, "", unix.AT_FDCWD, k.at, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount %s again: %w", k.at, err)
	}
	// A copy of a shared mount is the original's peer: nothing mounted
	// below it in the host (dockerd's data root) may reach the machine.
	if err := unix.Mount("", k.at, "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make %s private: %w", k.at, err)
	}
	return nil
}

// bindResolvConf makes the host's /etc/resolv.conf the file at src: a bind
// over the machine's file, or, where /etc/resolv.conf is a link into /run
// (systemd-resolved, resolvconf), a copy at the link's target in the host's
// own /run.
func bindResolvConf(src string) error {
	const etc = "/etc/resolv.conf"
	st, err := os.Lstat(etc)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode()&os.ModeSymlink != 0 {
		target, err := os.Readlink(etc)
		if err != nil {
			return err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join("/etc", target)
		}
		if target = filepath.Clean(target); under(target, "/run") || under(target, "/var/run") {
			b, err := os.ReadFile(src)
			if err != nil {
				return err
			}
			target = "/run" + strings.TrimPrefix(strings.TrimPrefix(target, "/var"), "/run")
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			return os.WriteFile(target, b, 0o644)
		}
	}
	if err := unix.Mount(src, etc, "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", src, etc, err)
	}
	return nil
}

// under reports whether path is dir or lies below it.
func under(path, dir string) bool { return path == dir || strings.HasPrefix(path, dir+"/") }

// childrenOf lists the mount points whose parent is the mount at dir (the
// cgroup hierarchies under /sys), to be copied and attached again once dir
// is replaced.
func childrenOf(mounts []kernel.Mount, dir string) []string {
	top := -1
	for _, m := range mounts {
		if m.Point == dir {
			top = m.ID // the last one mounted there is the visible one
		}
	}
	var out []string
	for _, m := range mounts {
		if m.Parent != top || top < 0 || m.Point == dir {
			continue
		}
		out = append(out, m.Point)
	}
	return out
}

// detachAt lazily unmounts every mount at dir or below it, outermost
// first: each takes what is mounted on it along.
func detachAt(mounts []kernel.Mount, dir string) error {
	var points []string
	for _, m := range mounts {
		if under(m.Point, dir) {
			points = append(points, m.Point)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) < len(points[j]) })
	for _, p := range points {
		err := unix.Unmount(p, unix.MNT_DETACH)
		if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("detach %s: %w", p, err)
		}
	}
	return nil
}
