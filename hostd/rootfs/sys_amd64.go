package rootfs

// sysSetns is setns(2), which syscall does not name on amd64.
const sysSetns = 308
