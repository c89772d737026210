package kernel

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/nslab/nslab/netns"
)

// Sysctl reads a network sysctl of the namespace at ns, named as sysctl(8)
// does ("net.ipv4.ip_forward") or as its path under /proc/sys
// ("net/ipv4/conf/eth1.10/forwarding", for names with dots). /proc/sys/net
// shows the namespace of the thread that reads it, so the read happens on a
// thread inside ns.
func Sysctl(ns, key string) (string, error) {
	path := "/proc/sys/" + key
	if !strings.Contains(key, "/") {
		path = "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	}
	var b []byte
	err := netns.Do(ns, func() (err error) { b, err = os.ReadFile(path); return err })
	if err != nil {
		return "", fmt.Errorf("%s: sysctl %s: %w", ns, key, err)
	}
	return strings.TrimSpace(string(b)), nil
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
