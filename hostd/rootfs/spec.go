package rootfs

import "errors"

// Spec is what the container's init needs to build its root filesystem and
// start its command: hostd writes it on the init's spec pipe.
type Spec struct {
	// Root is the directory the root filesystem is mounted on: an empty
	// directory of hostd's, covered in the container's mount namespace only.
	Root string
	// Layers are the image's unpacked layer trees, lowest first: the
	// overlay's read-only lower directories.
	Layers []string
	// Upper and Work are the overlay's upper and work directories (on one
	// filesystem): the container's writes land in Upper.
	Upper, Work string
	// ReadOnly is --read-only: the root filesystem's own mount is read-only
	// (the mounts on it keep their modes).
	ReadOnly bool
	// Privileged is --privileged: /sys read-write, no masked or read-only
	// /proc paths.
	Privileged bool
	// Hostname is set in the container's UTS namespace unless empty (host
	// mode shares the host's).
	Hostname string
	// ShmSize is the size of /dev/shm in bytes (Docker's default 64 MiB).
	ShmSize int64
	// Mounts are mounted after /proc, /dev and /sys, in order.
	Mounts []Mount
	// MaskedPaths are covered (a directory by an empty read-only tmpfs, a
	// file by /dev/null); ReadonlyPaths are bound read-only onto
	// themselves; both after the mounts, as runc does.
	MaskedPaths, ReadonlyPaths []string
	// Sysctls are KEY=VALUE written under /proc/sys in the container's own
	// namespaces before /proc/sys turns read-only.
	Sysctls []string
	// Tty allocates the container's terminal in its own devpts: the init
	// sends the master over the console socket and binds the slave over
	// /dev/console.
	Tty bool
	// Process is the command to run.
	Process Process
}

// Process is a command to run in a container: the container's own or an
// exec's.
type Process struct {
	Args []string
	Env  []string
	// Cwd is created (owned by root) when missing, then entered as the user.
	Cwd string
	// User is Docker's --user: "name|uid[:group|gid]", empty for root.
	User string
	// GroupAdd are --group-add's groups (names or ids).
	GroupAdd []string
	// Caps is the bounding set, a mask of capability numbers: a root
	// process's capabilities after execve.
	Caps uint64
}

// Docker 20.10's defaults for a container that is not privileged: the
// paths of /proc and /sys it masks or makes read-only (oci/defaults.go),
// and its capabilities (CapEff 00000000a80425fb: CHOWN, DAC_OVERRIDE,
// FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE,
// NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP).
var (
	DefaultMaskedPaths = []string{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/scsi", "/sys/firmware"}
	DefaultReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// DefaultCapabilities is Docker's default capability set as a mask.
const DefaultCapabilities = 0x00000000a80425fb

// MountKind says what a Mount mounts.
type MountKind byte

const (
	// Bind binds Source, a path on the machine (recursively, as Docker's
	// binds and volumes are).
	Bind MountKind = 'b'
	// Tmpfs mounts a new tmpfs with Options.
	Tmpfs MountKind = 't'
)

// Mount is one mount of the container beside its root filesystem.
type Mount struct {
	Kind     MountKind
	Source   string
	Target   string // absolute, in the container
	ReadOnly bool
	// Options are a tmpfs's options (size=64m, mode=1777, uid, gid,
	// nr_inodes) and mount flags (exec, suid; noexec and nosuid are
	// the default for a tmpfs, as Docker's).
	Options []string
}

// The spec's wire format: a sequence of fields in a fixed order, each a
// length-prefixed string, a count of strings followed by them, or a
// byte. Both ends are this package, in the same binary.

type encoder struct{ b []byte }

func (e *encoder) uint(n uint64) {
	for n >= 0x80 {
		e.b = append(e.b, byte(n)|0x80)
		n >>= 7
	}
	e.b = append(e.b, byte(n))
}

func (e *encoder) str(s string) { e.uint(uint64(len(s))); e.b = append(e.b, s...) }

func (e *encoder) strs(l []string) {
	e.uint(uint64(len(l)))
	for _, s := range l {
		e.str(s)
	}
}

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

var errShort = errors.New("rootfs: truncated spec")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uint() uint64 {
	var n uint64
	for shift := 0; ; shift += 7 {
		if len(d.b) == 0 || shift > 63 {
			d.err = errShort
			return 0
		}
		c := d.b[0]
		d.b = d.b[1:]
		n |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return n
		}
	}
}

func (d *decoder) str() string {
	n := d.uint()
	if d.err != nil || uint64(len(d.b)) < n {
		d.err = errShort
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strs() []string {
	n := d.uint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errShort
		return nil
	}
	var l []string
	for i := uint64(0); i < n && d.err == nil; i++ {
		l = append(l, d.str())
	}
	return l
}

func (d *decoder) bool() bool { return d.uint() == 1 }

func (p *Process) encode(e *encoder) {
	e.strs(p.Args)
	e.strs(p.Env)
	e.str(p.Cwd)
	e.str(p.User)
	e.strs(p.GroupAdd)
	e.uint(p.Caps)
}

func (p *Process) decode(d *decoder) {
	p.Args, p.Env, p.Cwd, p.User = d.strs(), d.strs(), d.str(), d.str()
	p.GroupAdd, p.Caps = d.strs(), d.uint()
}

// Marshal encodes the spec for the init.
func (s *Spec) Marshal() []byte {
	e := &encoder{}
	e.str(s.Root)
	e.strs(s.Layers)
	e.str(s.Upper)
	e.str(s.Work)
	e.bool(s.ReadOnly)
	e.bool(s.Privileged)
	e.str(s.Hostname)
	e.uint(uint64(s.ShmSize))
	e.uint(uint64(len(s.Mounts)))
	for _, m := range s.Mounts {
		e.uint(uint64(m.Kind))
		e.str(m.Source)
		e.str(m.Target)
		e.bool(m.ReadOnly)
		e.strs(m.Options)
	}
	e.strs(s.MaskedPaths)
	e.strs(s.ReadonlyPaths)
	e.strs(s.Sysctls)
	e.bool(s.Tty)
	s.Process.encode(e)
	return e.b
}

// Unmarshal decodes what Marshal encoded.
func (s *Spec) Unmarshal(b []byte) error {
	d := &decoder{b: b}
	s.Root, s.Layers, s.Upper, s.Work = d.str(), d.strs(), d.str(), d.str()
	s.ReadOnly, s.Privileged, s.Hostname = d.bool(), d.bool(), d.str()
	s.ShmSize = int64(d.uint())
	n := d.uint()
	if n > uint64(len(d.b)) {
		return errShort
	}
	s.Mounts = nil
	for i := uint64(0); i < n && d.err == nil; i++ {
		m := Mount{Kind: MountKind(d.uint())}
		m.Source, m.Target, m.ReadOnly, m.Options = d.str(), d.str(), d.bool(), d.strs()
		s.Mounts = append(s.Mounts, m)
	}
	s.MaskedPaths, s.ReadonlyPaths, s.Sysctls = d.strs(), d.strs(), d.strs()
	s.Tty = d.bool()
	s.Process.decode(d)
	if d.err == nil && len(d.b) != 0 {
		return errors.New("rootfs: trailing bytes after the spec")
	}
	return d.err
}
