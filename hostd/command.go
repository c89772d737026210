package hostd

import "strings"

// defaultPath is the PATH Docker gives a container whose image sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// processEnv is the environment of a container process (tty: it has a
// terminal): the container's, the link variables, then extra (an exec's
// -e). The command is looked up in its PATH inside the container's root,
// by the thread that starts the container's command or an exec (package
// rootfs).
func (d *Daemon) processEnv(c *Container, tty bool, extra ...string) []string {
	return mergeEnv(c.env(tty, d.linkEnv(c)), extra)
}

// mergeEnv sets every KEY=VALUE of extra in base, replacing an earlier
// value of the same key (getenv(3) would return the first one).
func mergeEnv(base, extra []string) []string {
	out := append([]string{}, base...)
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range out {
			if ok, _, _ := strings.Cut(old, "="); ok == k {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}
