package rootfs

import (
	"syscall"
	"unsafe"
)

// The mount API's and openat2's system call numbers. They came after the
// architectures' tables were unified (424 and up), so they are the same on
// amd64 and arm64. syscall has no wrappers for them, and this package may
// import nothing that initialises late (see init.go).
const (
	sysOpenTree     = 428
	sysMoveMount    = 429
	sysFsopen       = 430
	sysFsconfig     = 431
	sysFsmount      = 432
	sysCloseRange   = 436
	sysOpenat2      = 437
	sysMountSetattr = 442
)

// Flags of those calls (linux/mount.h, linux/openat2.h).
const (
	openTreeClone   = 0x1
	openTreeCloexec = syscall.O_CLOEXEC
	atEmptyPath     = 0x1000
	atRecursive     = 0x8000

	moveMountFEmptyPath = 0x4
	moveMountTEmptyPath = 0x40

	fsopenCloexec   = 0x1
	fsconfigSetFlag = 0
	fsconfigSetStr  = 1
	fsconfigSetFd   = 5
	fsconfigCreate  = 6
	fsmountCloexec  = 0x1

	// oPath is O_PATH, which syscall does not name.
	oPath = 0x200000

	attrRdonly      = 0x1
	attrNosuid      = 0x2
	attrNodev       = 0x4
	attrNoexec      = 0x8
	attrStrictatime = 0x20

	resolveNoMagiclinks = 0x2
	resolveInRoot       = 0x10
)

// Terminal ioctls (asm-generic/ioctls.h, the same on amd64 and arm64).
const (
	ioctlTIOCSCTTY   = 0x540E
	ioctlTIOCGPTN    = 0x80045430
	ioctlTIOCSPTLCK  = 0x40045431
	ioctlTIOCGPTPEER = 0x5441
)

// errnoErr keeps syscall's rule: a zero errno is no error.
func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func cstr(s string) (*byte, error) { return syscall.BytePtrFromString(s) }

// openHow is struct open_how.
type openHow struct {
	flags   uint64
	mode    uint64
	resolve uint64
}

// openat2 opens path below dirfd with the given resolve flags.
func openat2(dirfd int, path string, flags int, mode uint32, resolve uint64) (int, error) {
	p, err := cstr(path)
	if err != nil {
		return -1, err
	}
	how := openHow{flags: uint64(flags) | syscall.O_CLOEXEC, mode: uint64(mode), resolve: resolve}
	for {
		fd, _, e := syscall.Syscall6(sysOpenat2, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(&how)), unsafe.Sizeof(how), 0, 0)
		if e == syscall.EINTR || e == syscall.EAGAIN {
			// EAGAIN: a rename raced the lookup (RESOLVE_IN_ROOT retries).
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(fd), nil
	}
}

// fsopen starts a filesystem context of type fstype.
func fsopen(fstype string) (int, error) {
	p, err := cstr(fstype)
	if err != nil {
		return -1, err
	}
	fd, _, e := syscall.Syscall(sysFsopen, uintptr(unsafe.Pointer(p)), fsopenCloexec, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// fsconfig sets key (to value, or as a flag when value is "") on a
// filesystem context.
func fsconfig(fd int, key, value string) error {
	k, err := cstr(key)
	if err != nil {
		return err
	}
	if value == "" {
		_, _, e := syscall.Syscall6(sysFsconfig, uintptr(fd), fsconfigSetFlag, uintptr(unsafe.Pointer(k)), 0, 0, 0)
		return errnoErr(e)
	}
	v, err := cstr(value)
	if err != nil {
		return err
	}
	_, _, e := syscall.Syscall6(sysFsconfig, uintptr(fd), fsconfigSetStr, uintptr(unsafe.Pointer(k)), uintptr(unsafe.Pointer(v)), 0, 0)
	return errnoErr(e)
}

// fsconfigFd sets key to the file descriptor value on a filesystem
// context.
func fsconfigFd(fd int, key string, value int) error {
	k, err := cstr(key)
	if err != nil {
		return err
	}
	_, _, e := syscall.Syscall6(sysFsconfig, uintptr(fd), fsconfigSetFd, uintptr(unsafe.Pointer(k)), 0, uintptr(value), 0)
	return errnoErr(e)
}

// fsconfigCreateCmd creates the superblock of a configured context.
func fsconfigCreateCmd(fd int) error {
	_, _, e := syscall.Syscall6(sysFsconfig, uintptr(fd), fsconfigCreate, 0, 0, 0, 0)
	return errnoErr(e)
}

// fsmount makes a detached mount of a created context.
func fsmount(fd int, attrs uint64) (int, error) {
	m, _, e := syscall.Syscall(sysFsmount, uintptr(fd), fsmountCloexec, uintptr(attrs))
	if e != 0 {
		return -1, e
	}
	return int(m), nil
}

// moveMount attaches the detached mount (or moves the mount) at from onto
// the file or directory at to; both are descriptors.
func moveMount(from, to int) error {
	empty := []byte{0}
	_, _, e := syscall.Syscall6(sysMoveMount, uintptr(from), uintptr(unsafe.Pointer(&empty[0])), uintptr(to), uintptr(unsafe.Pointer(&empty[0])), moveMountFEmptyPath|moveMountTEmptyPath, 0)
	return errnoErr(e)
}

// openTree clones the mount (tree, with atRecursive) at path below dirfd
// into a detached mount.
func openTree(dirfd int, path string, flags int) (int, error) {
	p, err := cstr(path)
	if err != nil {
		return -1, err
	}
	fd, _, e := syscall.Syscall(sysOpenTree, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags|openTreeClone|openTreeCloexec))
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// mountAttr is struct mount_attr.
type mountAttr struct {
	set, clr, propagation, userns uint64
}

// mountSetattr sets attributes on the mount fd refers to (and the mounts
// below it with atRecursive).
func mountSetattr(fd int, flags int, set uint64) error {
	empty := []byte{0}
	attr := mountAttr{set: set}
	_, _, e := syscall.Syscall6(sysMountSetattr, uintptr(fd), uintptr(unsafe.Pointer(&empty[0])), uintptr(flags|atEmptyPath), uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0)
	return errnoErr(e)
}

// ioctlInt is ioctl(fd, req, arg) with an integer argument.
func ioctlInt(fd int, req uintptr, arg uintptr) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, arg)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// ioctlPtr is ioctl(fd, req, &v).
func ioctlPtr(fd int, req uintptr, v *uint32) error {
	_, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(v)))
	return errnoErr(e)
}

// cloexecFrom marks every descriptor from first on close-on-exec
// (close_range with CLOSE_RANGE_CLOEXEC).
func cloexecFrom(first int) error {
	const closeRangeCloexec = 1 << 2
	_, _, e := syscall.Syscall(sysCloseRange, uintptr(first), ^uintptr(0)>>32, closeRangeCloexec)
	return errnoErr(e)
}
