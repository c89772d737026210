package hostd

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// initName is the hidden entry point of the container init shim.
const initName = "hostd-init"

// syncFD is the shim's end of the pipe on which it reports a setup failure
// to hostd. It is close-on-exec when the shim execs the container's
// command, so hostd reads EOF exactly when the exec succeeded.
const syncFD = 3

// initMain is the container's first process. hostd starts it (re-executing
// its own binary) inside the container's network namespace, in a new mount
// namespace and, except in host mode, a new UTS namespace. It prepares the
// namespaces and execs the container's command, which keeps its pid.
//
// There is no PID namespace: containers are network-only, and `docker exec`
// must be able to join a running container with nsenter, which needs no PID
// namespace; the container's process set is its mount namespace instead.
func initMain(args []string) int {
	sync := os.NewFile(syncFD, "sync")
	fail := func(format string, a ...any) int {
		msg := fmt.Sprintf(format, a...)
		if sync == nil || func() error { _, err := sync.WriteString(msg); return err }() != nil {
			fmt.Fprintln(os.Stderr, msg)
		}
		return 127
	}
	fs := flag.NewFlagSet(initName, flag.ContinueOnError)
	hostname := fs.String("hostname", "", "hostname to set (empty: keep the current UTS namespace's)")
	hosts := fs.String("hosts", "", "file to bind over /etc/hosts")
	resolv := fs.String("resolv", "", "file to bind over /etc/resolv.conf")
	hostnameFile := fs.String("hostname-file", "", "file to bind over /etc/hostname")
	program := fs.String("path", "", "program to execute")
	if err := fs.Parse(args); err != nil {
		return fail("%s: %v", initName, err)
	}
	argv := fs.Args()
	if *program == "" || len(argv) == 0 {
		return fail("%s: no command", initName)
	}
	// The new mount namespace starts as a copy whose shared mounts are
	// still peers of the machine's: make everything private first, so
	// nothing done below propagates back.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fail("make / rprivate: %v", err)
	}
	// The copy also holds every namespace pin that existed at clone time;
	// they would keep other containers' namespaces alive after removal.
	if err := detachNamespacePins(); err != nil {
		return fail("detach namespace pins: %v", err)
	}
	for _, m := range []struct{ src, dst string }{
		{*hosts, "/etc/hosts"}, {*resolv, "/etc/resolv.conf"}, {*hostnameFile, "/etc/hostname"},
	} {
		if m.src == "" {
			continue
		}
		// A missing target is left alone: creating it would create it on
		// the machine's own filesystem.
		if _, err := os.Stat(m.dst); err != nil {
			continue
		}
		if err := unix.Mount(m.src, m.dst, "", unix.MS_BIND, ""); err != nil {
			return fail("bind %s over %s: %v", m.src, m.dst, err)
		}
	}
	if *hostname != "" {
		if err := unix.Sethostname([]byte(*hostname)); err != nil {
			return fail("sethostname %s: %v", *hostname, err)
		}
	}
	unix.CloseOnExec(syncFD)
	err := unix.Exec(*program, argv, os.Environ())
	return fail("OCI runtime create failed: container_linux.go:380: starting container process caused: exec: %q: %v: unknown", argv[0], err)
}

// detachNamespacePins lazily unmounts every namespace pin in this mount
// namespace: everything under /run/netns and any other nsfs mount (a
// dockerd's /run/docker/netns, say). Deepest first, so parents go last.
func detachNamespacePins() error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var targets []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// mountinfo: id parent major:minor root mountpoint opts ... - fstype source superopts
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		fstype := ""
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) {
				fstype = fields[i+1]
				break
			}
		}
		if strings.HasPrefix(mp, "/run/netns/") || fstype == "nsfs" {
			targets = append(targets, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	sort.Slice(targets, func(i, j int) bool { return len(targets[i]) > len(targets[j]) })
	for _, t := range targets {
		if err := unix.Unmount(t, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	return nil
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
