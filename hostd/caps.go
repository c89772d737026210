package hostd

import "path/filepath"

// setprivPath is util-linux's setpriv, which drops capabilities and execs.
const setprivPath = "/usr/bin/setpriv"

// defaultCapabilities is Docker 20.10's default set for a container that
// is not --privileged (CapEff 00000000a80425fb, as a real dockerd shows in
// the reference suite): no NET_ADMIN, SYS_ADMIN, SYS_MODULE and the rest.
const defaultCapabilities = "-all,+chown,+dac_override,+fowner,+fsetid,+kill,+setgid,+setuid," +
	"+setpcap,+net_bind_service,+net_raw,+sys_chroot,+mknod,+audit_write,+setfcap"

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
