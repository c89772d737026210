package netns

import (
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// The sysctls of a network namespace are read and written here through
// instances of procfs that belong to this process, made with fsopen and
// fsmount and never mounted anywhere, each serving procSysNamespaces
// network namespaces, each namespace always through the same instance.
//
// The reason is the kernel's directory cache. Every network namespace
// has its own /proc/sys/net/ipv6 (and ipv4, core...), and within one
// instance of procfs their entries share a parent, /proc/sys/net, and so a
// hash chain: a lookup of /proc/sys/net/ipv6 compares the name with every
// live namespace's entry that was looked up through that instance, taking
// a spinlock for each (proc_sys_compare). Through the machine's /proc,
// opening net/ipv6/conf/all/disable_ipv6 in a new namespace took 210–270
// µs on average with 200 to 600 other namespaces alive and 330–880 µs
// with 1,000 to 1,200; through instances of 32 namespaces, 40–160 µs at
// any count. A namespace keeps its instance so that what was looked up
// stays cached: a reset reads hundreds of a namespace's sysctls each
// time, and instances given up after 32 lookups, whatever their
// namespace, made that 60 % slower (BenchmarkSysctlValues).
//
// Where the kernel refuses a private procfs, the machine's /proc is used.
//
// Variables, so that a test can make them small.
var (
	procSysNamespaces = 32
	// procSysInstances are kept open at most: making one more gives up the
	// oldest, whose namespaces (the first made, the likeliest gone) get
	// another at their next lookup.
	procSysInstances = 16
)

// procInstance is one private procfs: fd is its root, refs the lookups
// under way through it plus one while it is kept; namespaces are the
// network namespaces (by inode) it serves.
type procInstance struct {
	fd         int
	refs       int
	namespaces []uint64
}

var procSys struct {
	sync.Mutex
	byNS map[uint64]*procInstance
	kept []*procInstance // oldest first; the last takes new namespaces
	// failed is why no private instance could be made: from then on the
	// machine's /proc is used.
	failed error
}

// acquireProcSys returns the private procfs of the calling thread's
// network namespace, with a reference the caller releases, or nil when
// there is none to be had.
func acquireProcSys() *procInstance {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return nil
	}
	procSys.Lock()
	defer procSys.Unlock()
	if procSys.failed != nil {
		return nil
	}
	i := procSys.byNS[st.Ino]
	if i == nil {
		if i = procSysTaking(); i == nil {
			return nil
		}
		i.namespaces = append(i.namespaces, st.Ino)
		procSys.byNS[st.Ino] = i
	}
	i.refs++
	return i
}

// procSysTaking returns the instance that takes new namespaces, made when
// the last is full; the caller holds procSys's lock.
func procSysTaking() *procInstance {
	if n := len(procSys.kept); n > 0 && len(procSys.kept[n-1].namespaces) < procSysNamespaces {
		return procSys.kept[n-1]
	}
	fd, err := newProcFS()
	if err != nil {
		procSys.failed = err
		return nil
	}
	i := &procInstance{fd: fd, refs: 1}
	if procSys.byNS == nil {
		procSys.byNS = map[uint64]*procInstance{}
	}
	procSys.kept = append(procSys.kept, i)
	if len(procSys.kept) > procSysInstances {
		old := procSys.kept[0]
		procSys.kept = procSys.kept[1:]
		for _, ns := range old.namespaces {
			if procSys.byNS[ns] == old {
				delete(procSys.byNS, ns)
			}
		}
		old.releaseLocked()
	}
	return i
}

func (i *procInstance) release() {
	procSys.Lock()
	defer procSys.Unlock()
	i.releaseLocked()
}

func (i *procInstance) releaseLocked() {
	if i.refs--; i.refs == 0 {
		unix.Close(i.fd)
	}
}

// newProcFS makes an instance of procfs and returns its root, a detached
// mount: since Linux 5.8 each mount of procfs is an instance of its own.
func newProcFS() (int, error) {
	fsfd, err := unix.Fsopen("proc", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen proc: %w", err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("create procfs: %w", err)
	}
	fd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsmount procfs: %w", err)
	}
	return fd, nil
}

// OpenSysctl opens the file or directory at key, its path under /proc/sys
// ("net/ipv4/ip_forward"), as the calling thread's network namespace
// shows it. flags are open(2)'s; O_CLOEXEC is added.
func OpenSysctl(key string, flags int) (int, error) {
	flags |= unix.O_CLOEXEC
	i := acquireProcSys()
	if i == nil {
		return unix.Open("/proc/sys/"+key, flags, 0)
	}
	defer i.release()
	return unix.Openat(i.fd, "sys/"+key, flags, 0)
}

// WithProcSys calls fn with a path at which /proc/sys can be walked by
// path (a directory tree, say) as OpenSysctl opens it.
func WithProcSys(fn func(procSys string) error) error {
	i := acquireProcSys()
	if i == nil {
		return fn("/proc/sys")
	}
	defer i.release()
	return fn(fmt.Sprintf("/proc/self/fd/%d/sys", i.fd))
}

// ReadSysctl reads the sysctl at key (as OpenSysctl names it) in the
// calling thread's network namespace, without the trailing newline.
func ReadSysctl(key string) (string, error) {
	fd, err := OpenSysctl(key, unix.O_RDONLY)
	if err != nil {
		return "", fmt.Errorf("sysctl %s: %w", key, err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return "", fmt.Errorf("sysctl %s: read: %w", key, err)
	}
	return strings.TrimSpace(string(buf[:n])), nil
}

// WriteSysctl writes value to the sysctl at key (as OpenSysctl names it)
// in the calling thread's network namespace.
func WriteSysctl(key, value string) error {
	fd, err := OpenSysctl(key, unix.O_WRONLY)
	if err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(value+"\n")); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}
