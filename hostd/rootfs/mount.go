package rootfs

import (
	"syscall"
	"unsafe"
)

// Every mount here is made detached (fsmount, open_tree) and attached with
// move_mount onto a descriptor resolved inside the container's root, so no
// path is walked twice and no symlink of the image can redirect a mount
// onto the machine's files. Every filesystem the container can write is
// nodev: hostd has no device cgroup, so a device node a container makes
// (it keeps CAP_MKNOD, as with Docker) must not open.

// MountRoot mounts the container's root filesystem on target in the
// calling thread's mount namespace: an overlay of layers (lowest first)
// under upper, or, without upper, a read-only view of the layers. It
// returns the root opened O_PATH.
func MountRoot(target string, layers []string, upper, work string) (int, error) {
	m, e := overlay(layers, upper, work)
	if e != nil {
		return -1, e
	}
	defer syscall.Close(m)
	to, err := openat2(atFDCWD, target, oPath|syscall.O_DIRECTORY, 0, 0)
	if err != nil {
		return -1, setupError("open root mount point "+target, err)
	}
	defer syscall.Close(to)
	if err := moveMount(m, to); err != nil {
		return -1, setupError("mount root filesystem on "+target, err)
	}
	fd, err := openat2(atFDCWD, target, oPath|syscall.O_DIRECTORY, 0, 0)
	if err != nil {
		return -1, setupError("open root filesystem", err)
	}
	return fd, nil
}

const atFDCWD = -0x64

// overlay makes the detached mount of the root filesystem.
func overlay(layers []string, upper, work string) (int, *Error) {
	if len(layers) == 0 {
		return -1, setupError("mount root filesystem", syscall.EINVAL)
	}
	if upper == "" && len(layers) == 1 {
		// overlayfs wants two lower layers without an upper one; a
		// read-only bind of the only layer is the same tree.
		m, err := openTree(atFDCWD, layers[0], 0)
		if err != nil {
			return -1, setupError("bind layer "+layers[0], err)
		}
		if err := mountSetattr(m, 0, attrRdonly|attrNodev); err != nil {
			syscall.Close(m)
			return -1, setupError("make layer read-only", err)
		}
		return m, nil
	}
	var opts []string
	// lowerdir+ appends one layer below those given before (so the top
	// comes first), a path per call: no page-sized option string limits
	// the number of layers.
	for i := len(layers) - 1; i >= 0; i-- {
		opts = append(opts, "lowerdir+="+layers[i])
	}
	if upper != "" {
		opts = append(opts, "upperdir="+upper, "workdir="+work)
	}
	// No inode index, as Docker's overlay2: layers are shared by every
	// container and lab, and an index would tie a layer to one upper.
	opts = append(opts, "index=off")
	var attrs uint64 = attrNodev
	if upper == "" {
		attrs |= attrRdonly
	}
	return newMount("overlay", opts, attrs)
}

// newMount makes a detached mount of a new filesystem of type fstype with
// the given options (KEY=VALUE, or a flag KEY) and mount attributes. Its
// source, what mountinfo shows, is fstype's name unless a "source=" option
// says otherwise, as runc's mounts show.
func newMount(fstype string, opts []string, attrs uint64) (int, *Error) {
	return newMountWith(fstype, opts, attrs, nil)
}

// newMountWith is newMount with more configuration of the context (a
// descriptor option) before its superblock is created.
func newMountWith(fstype string, opts []string, attrs uint64, configure func(fs int) error) (int, *Error) {
	fs, err := fsopen(fstype)
	if err != nil {
		return -1, setupError("fsopen "+fstype, err)
	}
	defer syscall.Close(fs)
	if configure != nil {
		if err := configure(fs); err != nil {
			return -1, fsError(fs, "configure "+fstype, err)
		}
	}
	if len(opts) == 0 || len(opts[0]) < 7 || opts[0][:7] != "source=" {
		opts = append([]string{"source=" + fstype}, opts...)
	}
	for _, o := range opts {
		k, v := o, ""
		for i := 0; i < len(o); i++ {
			if o[i] == '=' {
				k, v = o[:i], o[i+1:]
				break
			}
		}
		if err := fsconfig(fs, k, v); err != nil {
			return -1, fsError(fs, fstype+" option "+o, err)
		}
	}
	if err := fsconfigCreateCmd(fs); err != nil {
		return -1, fsError(fs, "create "+fstype, err)
	}
	m, err := fsmount(fs, attrs)
	if err != nil {
		return -1, setupError("mount "+fstype, err)
	}
	return m, nil
}

// fsError adds what the filesystem logged on its context (overlayfs says
// which directory it did not like) to the error.
func fsError(fs int, what string, err error) *Error {
	msg := what + ": " + err.Error()
	buf := make([]byte, 512)
	for {
		n, rerr := syscall.Read(fs, buf)
		if rerr != nil || n <= 0 {
			break
		}
		msg += " (" + trimSpace(string(buf[:n])) + ")"
	}
	return &Error{Kind: ErrSetup, Msg: msg}
}

// attach mounts the detached mount m on target below root, making the
// target (a directory, or a file when dir is false) when it is missing. A
// file cannot cover a directory nor the reverse: ENOTDIR, as runc.
func attach(root int, target string, m int, dir bool) *Error {
	defer syscall.Close(m)
	to, err := createIn(root, target, dir)
	if err != nil {
		return mountError(target, err)
	}
	defer syscall.Close(to)
	if isDir(to) != dir {
		return mountError(target, syscall.ENOTDIR)
	}
	if err := moveMount(m, to); err != nil {
		return mountError(target, err)
	}
	return nil
}

// mountError is runc's text for a mount that failed.
func mountError(target string, err error) *Error {
	e := setupError("mount to rootfs at "+quote(target), err)
	if err == syscall.ENOTDIR {
		e.Kind = ErrMountType
	}
	return e
}

// bindFrom clones the mount at path (below dirfd, or an O_PATH descriptor
// with path "") with the given attributes, recursively.
func bindFrom(dirfd int, path string, attrs uint64) (int, error) {
	flags := atRecursive
	if path == "" {
		flags |= atEmptyPath
	}
	m, err := openTree(dirfd, path, flags)
	if err != nil {
		return -1, err
	}
	if err := mountSetattr(m, atRecursive, attrs); err != nil {
		syscall.Close(m)
		return -1, err
	}
	return m, nil
}

// mountSpecial mounts /proc, /dev (and what lives in it) and /sys.
func (s *Spec) mountSpecial(root, pidns int) *Error {
	var inPidns func(fs int) error
	if pidns >= 0 {
		// proc shows the PID namespace of the task that mounts it unless
		// told another: the container's, which hostd's thread made for its
		// children but is not in itself.
		inPidns = func(fs int) error { return fsconfigFd(fs, "pidns", pidns) }
	}
	m, e := newMountWith("proc", nil, attrNosuid|attrNodev|attrNoexec, inPidns)
	if e != nil {
		return e
	}
	if e := attach(root, "/proc", m, true); e != nil {
		return e
	}
	if e := s.writeSysctls(root); e != nil {
		return e
	}
	if e := s.mountDev(root); e != nil {
		return e
	}
	var sysAttrs uint64 = attrNosuid | attrNodev | attrNoexec
	if !s.Privileged {
		sysAttrs |= attrRdonly
	}
	if m, e = newMount("sysfs", nil, sysAttrs); e != nil {
		return e
	}
	return attach(root, "/sys", m, true)
}

// devNodes are the machine's device nodes a container's /dev holds, as
// Docker's default device list; each is bound read-only (so that no one
// in the container can chmod the machine's node; writing to the device
// stays possible).
var devNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// devLinks are /dev's symlinks, as runc makes them.
var devLinks = [][2]string{
	{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
	{"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"}, {"/proc/kcore", "core"},
}

// mountDev mounts /dev as runc does: a tmpfs with the device nodes, a new
// devpts instance, /dev/shm and /dev/mqueue.
func (s *Spec) mountDev(root int) *Error {
	m, e := newMount("tmpfs", []string{"mode=755", "size=65536k"}, attrNosuid|attrNodev|attrStrictatime)
	if e != nil {
		return e
	}
	if e := attach(root, "/dev", m, true); e != nil {
		return e
	}
	for _, n := range devNodes {
		m, err := bindFrom(atFDCWD, "/dev/"+n, attrRdonly|attrNosuid|attrNoexec)
		if err != nil {
			return setupError("bind /dev/"+n, err)
		}
		if e := attach(root, "/dev/"+n, m, false); e != nil {
			return e
		}
	}
	dev, err := resolveIn(root, "/dev")
	if err != nil {
		return setupError("open /dev", err)
	}
	defer syscall.Close(dev)
	for _, l := range devLinks {
		if err := symlinkat(l[0], dev, l[1]); err != nil {
			return setupError("symlink /dev/"+l[1], err)
		}
	}
	shmSize := s.ShmSize
	if shmSize <= 0 {
		shmSize = 64 << 20
	}
	for _, d := range []struct {
		fstype, target string
		opts           []string
		attrs          uint64
	}{
		{"devpts", "/dev/pts", []string{"newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}, attrNosuid | attrNoexec},
		{"tmpfs", "/dev/shm", []string{"source=shm", "mode=1777", "size=" + itoa(uint64(shmSize))}, attrNosuid | attrNodev | attrNoexec},
		{"mqueue", "/dev/mqueue", nil, attrNosuid | attrNodev | attrNoexec},
	} {
		m, e := newMount(d.fstype, d.opts, d.attrs)
		if e != nil {
			return e
		}
		if e := attach(root, d.target, m, true); e != nil {
			return e
		}
	}
	return nil
}

func symlinkat(target string, dirfd int, name string) error {
	t, err := cstr(target)
	if err != nil {
		return err
	}
	n, err := cstr(name)
	if err != nil {
		return err
	}
	_, _, e := syscall.Syscall(syscall.SYS_SYMLINKAT, uintptr(unsafe.Pointer(t)), uintptr(dirfd), uintptr(unsafe.Pointer(n)))
	return errnoErr(e)
}

// mountUser mounts one of the spec's mounts (binds, volumes, tmpfs).
func mountUser(root int, m Mount) *Error {
	switch m.Kind {
	case Bind:
		var attrs uint64 = attrNodev
		if m.ReadOnly {
			attrs |= attrRdonly
		}
		src, err := bindFrom(atFDCWD, m.Source, attrs)
		if err != nil {
			return setupError("bind "+m.Source, err)
		}
		return attach(root, m.Target, src, isDir(src))
	case Tmpfs:
		opts, attrs := tmpfsOptions(m)
		src, e := newMount("tmpfs", opts, attrs)
		if e != nil {
			return e
		}
		return attach(root, m.Target, src, true)
	}
	return setupError("mount "+m.Target, syscall.EINVAL)
}

// tmpfsOptions splits a tmpfs's options into filesystem options and mount
// attributes: noexec, nosuid (and always nodev) unless exec or suid says
// otherwise, as Docker's --tmpfs.
func tmpfsOptions(m Mount) ([]string, uint64) {
	var attrs uint64 = attrNoexec | attrNosuid | attrNodev
	if m.ReadOnly {
		attrs |= attrRdonly
	}
	var opts []string
	for _, o := range m.Options {
		switch o {
		case "exec":
			attrs &^= attrNoexec
		case "suid":
			attrs &^= attrNosuid
		case "noexec":
			attrs |= attrNoexec
		case "nosuid":
			attrs |= attrNosuid
		case "ro":
			attrs |= attrRdonly
		case "rw", "nodev":
		default:
			opts = append(opts, o)
		}
	}
	return opts, attrs
}

// protectPaths covers the masked paths and makes the read-only ones so, as
// runc does for a container that is not privileged.
func (s *Spec) protectPaths(root int) *Error {
	for _, p := range s.MaskedPaths {
		fd, err := resolveIn(root, p)
		if err == syscall.ENOENT {
			continue
		} else if err != nil {
			return setupError("mask "+p, err)
		}
		var m int
		if isDir(fd) {
			var e *Error
			if m, e = newMount("tmpfs", []string{"size=0"}, attrRdonly|attrNosuid|attrNodev|attrNoexec); e != nil {
				syscall.Close(fd)
				return e
			}
		} else {
			m, err = bindFrom(root, "dev/null", attrRdonly|attrNosuid|attrNoexec)
		}
		if err == nil {
			err = moveMount(m, fd)
			syscall.Close(m)
		}
		syscall.Close(fd)
		if err != nil {
			return setupError("mask "+p, err)
		}
	}
	for _, p := range s.ReadonlyPaths {
		fd, err := resolveIn(root, p)
		if err == syscall.ENOENT {
			continue
		} else if err != nil {
			return setupError("make "+p+" read-only", err)
		}
		m, err := bindFrom(fd, "", attrRdonly|attrNosuid|attrNodev|attrNoexec)
		if err == nil {
			err = moveMount(m, fd)
			syscall.Close(m)
		}
		syscall.Close(fd)
		if err != nil {
			return setupError("make "+p+" read-only", err)
		}
	}
	return nil
}

// writeSysctls writes the spec's sysctls in the container's namespaces.
func (s *Spec) writeSysctls(root int) *Error {
	for _, kv := range s.Sysctls {
		k, v := kv, ""
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				k, v = kv[:i], kv[i+1:]
				break
			}
		}
		p := "/proc/sys"
		for _, c := range split(k, '.') {
			if c == "" || contains(c, '/') {
				return setupError("write sysctl key "+k, syscall.EINVAL)
			}
			p += "/" + c
		}
		fd, err := openat2(root, p, syscall.O_WRONLY|syscall.O_TRUNC, 0, resolveInRoot|resolveNoMagiclinks)
		if err == nil {
			_, err = syscall.Write(fd, []byte(v))
			syscall.Close(fd)
		}
		if err != nil {
			return setupError("write sysctl key "+k, err)
		}
	}
	return nil
}

// pivot makes root the root of the mount namespace and detaches the old
// one, runc's pivot_root(".", ".") way: no directory for the old root is
// needed in the image.
func pivot(root int) *Error {
	if err := syscall.Fchdir(root); err != nil {
		return setupError("chdir to rootfs", err)
	}
	if err := syscall.PivotRoot(".", "."); err != nil {
		return setupError("pivot_root", err)
	}
	if err := syscall.Unmount(".", syscall.MNT_DETACH); err != nil {
		return setupError("detach the old root", err)
	}
	if err := syscall.Chdir("/"); err != nil {
		return setupError("chdir /", err)
	}
	return nil
}

// InitLayer makes, at dir, what Docker's per-container "-init" layer
// holds: the mount points every container needs (/proc, /sys, /dev, the
// files hostd binds over /etc/hosts, /etc/hostname and /etc/resolv.conf),
// /etc/mtab and /.dockerenv. Stacked above the image's layers it is the
// same for every container, so one per host serves all, and a start
// writes nothing in the container's upper directory for its mounts.
func InitLayer(dir string) error {
	for _, d := range []string{"", "/dev", "/proc", "/sys", "/etc"} {
		if err := syscall.Mkdir(dir+d, 0o755); err != nil && err != syscall.EEXIST {
			return err
		}
	}
	for _, f := range []string{"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/.dockerenv"} {
		fd, err := syscall.Open(dir+f, syscall.O_CREAT|syscall.O_RDONLY|syscall.O_CLOEXEC, 0o755)
		if err != nil {
			return err
		}
		syscall.Close(fd)
	}
	if err := syscall.Symlink("/proc/mounts", dir+"/etc/mtab"); err != nil && err != syscall.EEXIST {
		return err
	}
	return nil
}

// MountIn mounts m on its target below root (an O_PATH descriptor of the
// container's root), as a start does: hostd uses it for a private view of
// a stopped container's files.
func MountIn(root int, m Mount) error {
	if e := mountUser(root, m); e != nil {
		return e
	}
	return nil
}
