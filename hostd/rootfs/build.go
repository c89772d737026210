package rootfs

import "syscall"

// Built is what Build leaves besides the thread's new root: with Spec.Tty,
// the container's terminal (else both -1).
type Built struct {
	Master, Slave int
}

// Build builds the container's filesystem from the calling thread and
// pivots the thread into it, then sets the hostname. The thread must have
// an fs_struct of its own and sit in the container's new mount namespace
// (a copy of hostd's template) and already in its network, IPC and UTS
// namespaces: /sys, /dev/mqueue and the sysctls written are those of the
// thread's namespaces. /proc shows the PID namespace pidns (-1: the
// thread's own).
func (s *Spec) Build(pidns int) (Built, *Error) {
	b := Built{Master: -1, Slave: -1}
	root, err := MountRoot(s.Root, s.Layers, s.Upper, s.Work)
	if err != nil {
		return b, err.(*Error)
	}
	defer syscall.Close(root)
	if e := s.mountSpecial(root, pidns); e != nil {
		return b, e
	}
	for _, m := range s.Mounts {
		if e := mountUser(root, m); e != nil {
			return b, e
		}
	}
	if !s.Privileged {
		if e := s.protectPaths(root); e != nil {
			return b, e
		}
	}
	if s.Tty {
		var e *Error
		if b.Master, b.Slave, e = console(root); e != nil {
			return b, e
		}
	}
	e := s.finish(root)
	if e != nil && s.Tty {
		syscall.Close(b.Master)
		syscall.Close(b.Slave)
		b = Built{Master: -1, Slave: -1}
	}
	return b, e
}

// finish makes the root read-only (--read-only), pivots into it and sets
// the hostname.
func (s *Spec) finish(root int) *Error {
	if s.ReadOnly {
		if err := mountSetattr(root, 0, attrRdonly); err != nil {
			return setupError("make the root filesystem read-only", err)
		}
	}
	if e := pivot(root); e != nil {
		return e
	}
	if s.Hostname != "" {
		if err := syscall.Sethostname([]byte(s.Hostname)); err != nil {
			return setupError("sethostname", err)
		}
	}
	return nil
}

// console allocates the container's terminal in its own devpts and binds
// the slave over /dev/console; it returns the master and the slave.
func console(root int) (int, int, *Error) {
	ptmx, err := openat2(root, "/dev/pts/ptmx", syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0, resolveInRoot|resolveNoMagiclinks)
	if err != nil {
		return -1, -1, setupError("open /dev/pts/ptmx", err)
	}
	var unlock, n uint32
	if err := ioctlPtr(ptmx, ioctlTIOCSPTLCK, &unlock); err != nil {
		syscall.Close(ptmx)
		return -1, -1, setupError("unlock pty", err)
	}
	if err := ioctlPtr(ptmx, ioctlTIOCGPTN, &n); err != nil {
		syscall.Close(ptmx)
		return -1, -1, setupError("pty number", err)
	}
	slave, err := ioctlInt(ptmx, ioctlTIOCGPTPEER, syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC)
	if err != nil {
		syscall.Close(ptmx)
		return -1, -1, setupError("open pty slave", err)
	}
	m, err := bindFrom(root, "dev/pts/"+itoa(uint64(n)), 0)
	if err == nil {
		if e := attach(root, "/dev/console", m, false); e != nil {
			syscall.Close(ptmx)
			syscall.Close(slave)
			return -1, -1, e
		}
		return ptmx, slave, nil
	}
	syscall.Close(ptmx)
	syscall.Close(slave)
	return -1, -1, setupError("bind /dev/console", err)
}
