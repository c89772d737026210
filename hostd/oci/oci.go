// Package oci decides what Docker's oci package decides of a container's
// process from its host config: the capabilities it runs with (Docker
// 20.10's default set, --cap-add and --cap-drop, --privileged) and the
// sysctls it may set (those of a namespace the container has its own of).
package oci

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/rootfs"
)

// capabilityNames are Linux's capabilities by number, as Docker 20.10
// names them (--cap-add NET_ADMIN or CAP_NET_ADMIN).
var capabilityNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// normalizeCapabilities is Docker's NormalizeLegacyCapabilities: upper
// case, the CAP_ prefix added, ALL kept, an unknown name refused.
func normalizeCapabilities(caps []string) ([]string, error) {
	var out []string
	for _, c := range caps {
		c = strings.ToUpper(c)
		if c != "ALL" && !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		if c != "ALL" && !slices.Contains(capabilityNames, c) {
			return nil, errdefs.BadRequest("unknown capability: %q", c)
		}
		out = append(out, c)
	}
	return out, nil
}

// Capabilities is the container's capability set as a mask, as Docker's
// TweakCapabilities makes it: all for --privileged; Docker's default set
// without --cap-drop's and with --cap-add's; ALL in --cap-add starts from
// every capability, ALL in --cap-drop from none.
func Capabilities(hc *types.HostConfig) (uint64, error) {
	if hc.Privileged {
		return rootfs.AllCapabilities, nil
	}
	adds, err := normalizeCapabilities(hc.CapAdd)
	if err != nil {
		return 0, err
	}
	drops, err := normalizeCapabilities(hc.CapDrop)
	if err != nil {
		return 0, err
	}
	var mask uint64
	switch {
	case slices.Contains(adds, "ALL"):
		mask = 1<<len(capabilityNames) - 1
		adds = nil
	case slices.Contains(drops, "ALL"):
		drops = nil
	default:
		mask = rootfs.DefaultCapabilities
	}
	for i, name := range capabilityNames {
		if slices.Contains(drops, name) {
			mask &^= 1 << i
		}
		if slices.Contains(adds, name) {
			mask |= 1 << i
		}
	}
	return mask, nil
}

// validSysctl is a sysctl name: dot-separated words, nothing that could
// name a file outside /proc/sys.
var validSysctl = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// CheckSysctls applies runc's rules: IPC sysctls need the container's own
// IPC namespace (always, here), net.* its own network namespace (not host
// mode), kernel.domainname its own UTS namespace; anything else is the
// machine's and refused.
func CheckSysctls(hc *types.HostConfig) error {
	ipc := []string{"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}
	// A host-mode container shares the host's network and UTS namespaces.
	host := hc.NetworkMode == "host"
	for k := range hc.Sysctls {
		switch {
		case !validSysctl.MatchString(k):
			return &rootfs.Error{Kind: rootfs.ErrSetup, Msg: fmt.Sprintf("sysctl %q is not a sysctl name", k)}
		case slices.Contains(ipc, k) || strings.HasPrefix(k, "fs.mqueue."):
		case strings.HasPrefix(k, "net.") && host:
			return &rootfs.Error{Kind: rootfs.ErrSetup, Msg: fmt.Sprintf("sysctl %q not allowed in host network namespace", k)}
		case strings.HasPrefix(k, "net."):
		case k == "kernel.domainname" && !host:
		case k == "kernel.hostname" && !host:
			return &rootfs.Error{Kind: rootfs.ErrSetup, Msg: fmt.Sprintf("sysctl %q is not allowed as it conflicts with the OCI %q field", k, "hostname")}
		default:
			return &rootfs.Error{Kind: rootfs.ErrSetup, Msg: fmt.Sprintf("sysctl %q is not in a separate kernel namespace", k)}
		}
	}
	return nil
}
