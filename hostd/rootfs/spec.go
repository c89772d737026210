package rootfs

// Spec is what a container's start needs to build its root filesystem and
// start its command.
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
	// Tty allocates the container's terminal in its own devpts: Build
	// returns the master and binds the slave over /dev/console.
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
