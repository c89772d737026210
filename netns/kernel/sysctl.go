package kernel

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// Sysctl reads a network sysctl of the namespace at ns, named as sysctl(8)
// does ("net.ipv4.ip_forward") or as its path under /proc/sys
// ("net/ipv4/conf/eth1.10/forwarding", for names with dots). /proc/sys/net
// shows the namespace of the thread that reads it, so the read happens on a
// thread inside ns.
func Sysctl(ns, key string) (string, error) {
	path := key
	if !strings.Contains(key, "/") {
		path = strings.ReplaceAll(key, ".", "/")
	}
	var v string
	err := netns.Do(ns, func() (err error) { v, err = netns.ReadSysctl(path); return err })
	if err != nil {
		return "", fmt.Errorf("%s: %w", ns, err)
	}
	return v, nil
}

// A Dump is a tool that prints a ruleset of the namespace it runs in.
type Dump []string

// The firewall dumps a namespace's rules can be read with.
var (
	IPTables  = Dump{"iptables-save"}
	IP6Tables = Dump{"ip6tables-save"}
	NFT       = Dump{"nft", "list", "ruleset"}
)

// Ruleset runs dump inside the namespace at ns and returns what it prints.
// A tool that is not installed is an error wrapping exec.ErrNotFound.
func Ruleset(ns string, dump Dump) (string, error) {
	path, err := exec.LookPath(dump[0])
	if err != nil {
		return "", fmt.Errorf("%s: %w", dump[0], err)
	}
	var out, errb strings.Builder
	cmd := exec.Command(path, dump[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := netns.StartIn(ns, cmd); err != nil {
		return "", fmt.Errorf("%s: %s: %w", ns, strings.Join(dump, " "), err)
	}
	if err := cmd.Wait(); err != nil {
		return "", fmt.Errorf("%s: %s: %w: %s", ns, strings.Join(dump, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

var (
	// iptCounters are iptables-save's [packets:bytes].
	iptCounters = regexp.MustCompile(`\[\d+:\d+\]`)
	// nftCounters are nft's counter statements with their values.
	nftCounters = regexp.MustCompile(`counter packets \d+ bytes \d+`)
)

// RulesetLines are the lines of a Ruleset dump without what changes on its
// own: blank lines, comments, and the values of packet and byte counters
// (iptables-save's become [0:0], nft's a bare "counter"). Two dumps of the
// same rules give the same lines.
func RulesetLines(dump string) []string {
	var out []string
	for _, l := range strings.Split(dump, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		l = iptCounters.ReplaceAllString(l, "[0:0]")
		l = nftCounters.ReplaceAllString(l, "counter")
		out = append(out, l)
	}
	return out
}

// Sysctls reads every writable network sysctl of the namespace at ns, by
// its path under /proc/sys ("net/ipv4/conf/eth1/forwarding"): what a user
// can change there and a reset has to put back. Read-only entries (counters
// such as nf_conntrack_count) and those that refuse a read (the secrets
// stable_secret, tcp_fastopen_key until set) are left out.
func Sysctls(ns string) (map[string]string, error) {
	out := map[string]string{}
	err := netns.Do(ns, func() error {
		return netns.WithProcSys(func(procSys string) error {
			return walkSysctls(procSys, out)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("%s: sysctls: %w", ns, err)
	}
	return out, nil
}

// walkSysctls reads into out the writable sysctls under net/ of the
// /proc/sys at procSys, on the calling thread.
func walkSysctls(procSys string, out map[string]string) error {
	return filepath.WalkDir(procSys+"/net", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			// A link that went away meanwhile takes its directory.
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Mode().Perm()&0o200 == 0 || writeOnly[d.Name()] {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		out[strings.TrimPrefix(path, procSys+"/")] = strings.TrimSpace(string(b))
		return nil
	})
}

// writeOnly are the writable sysctls whose reading says nothing of their
// state: a write triggers an action (a flush), a read gives a fixed value.
var writeOnly = map[string]bool{"flush": true}

// SysctlValues reads the named network sysctls of the namespace at ns (as
// Sysctls names them) in one trip into it; a key that does not exist
// (its link went) is left out.
func SysctlValues(ns string, keys []string) (map[string]string, error) {
	out := make(map[string]string, len(keys))
	err := netns.Do(ns, func() error {
		readSysctls(keys, out)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: sysctls: %w", ns, err)
	}
	return out, nil
}

// readSysctls reads keys on the calling thread into out. Each directory
// is opened once and its keys relative to it, into one buffer: the
// kernel's lookup of each component of a /proc/sys path is what a read
// costs most (some 50 µs a key by full path here), and a namespace has
// hundreds of keys in a few dozen directories.
func readSysctls(keys []string, out map[string]string) {
	dirs := map[string]int{}
	defer func() {
		for _, fd := range dirs {
			unix.Close(fd)
		}
	}()
	buf := make([]byte, 4096)
	for _, k := range keys {
		dir, name := filepath.Split(k)
		dfd, ok := dirs[dir]
		if !ok {
			var err error
			if dfd, err = netns.OpenSysctl(dir, unix.O_RDONLY|unix.O_DIRECTORY); err != nil {
				dfd = -1
			}
			dirs[dir] = dfd
		}
		if dfd < 0 {
			continue // the directory went with its link
		}
		fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		n, err := unix.Read(fd, buf)
		unix.Close(fd)
		if err == nil && n >= 0 {
			out[k] = strings.TrimSpace(string(buf[:n]))
		}
	}
}
