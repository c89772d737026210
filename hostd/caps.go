package hostd

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// setprivPath is util-linux's setpriv, which drops capabilities and execs:
// `docker exec` enters a container through nsenter and narrows the set
// with it.
const setprivPath = "/usr/bin/setpriv"

// defaultCapabilities is Docker 20.10's default set for a container that
// is not --privileged (CapEff 00000000a80425fb, as a real dockerd shows in
// the reference suite): no NET_ADMIN, SYS_ADMIN, SYS_MODULE and the rest.
const defaultCapabilities = "-all,+chown,+dac_override,+fowner,+fsetid,+kill,+setgid,+setuid," +
	"+setpcap,+net_bind_service,+net_raw,+sys_chroot,+mknod,+audit_write,+setfcap"

// defaultCapabilityMask is defaultCapabilities as a bit mask of capability
// numbers.
const defaultCapabilityMask = 0x00000000a80425fb

// dropCapabilities wraps a resolved command so it runs with Docker's
// default capabilities: a root process's permitted and effective sets after
// execve are its bounding set, so narrowing the bounding set is enough.
// A busybox applet keeps its name as the first argument, since busybox run
// by path takes the applet from there.
func dropCapabilities(path string, argv []string) (string, []string) {
	wrapped := []string{"setpriv", "--bounding-set", defaultCapabilities, "--", path}
	if path == busyboxPath && len(argv) > 0 && filepath.Base(argv[0]) != "busybox" {
		wrapped = append(wrapped, argv...)
	} else if len(argv) > 1 {
		wrapped = append(wrapped, argv[1:]...)
	}
	return setprivPath, wrapped
}

// narrowBoundingSet drops every capability outside Docker's default set
// from the calling thread's bounding set: a root process forked from this
// thread and exec'd then has exactly that set, what dropCapabilities gets
// with one more exec. Capability sets are per thread, so it must run on a
// locked thread that ends afterwards (a netns.OnThread thread); the drop
// cannot be undone.
func narrowBoundingSet() error {
	last, err := lastCapability()
	if err != nil {
		return err
	}
	for c := 0; c <= last; c++ {
		if c < 64 && defaultCapabilityMask&(1<<c) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	return nil
}

// lastCapability is the kernel's highest capability number.
func lastCapability() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("capabilities: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("capabilities: cap_last_cap %q: %w", b, err)
	}
	return n, nil
}
