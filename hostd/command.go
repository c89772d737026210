package hostd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// defaultPath is the PATH Docker gives a container whose image sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// busyboxPath is busybox-static's binary. The documents' containers are
// alpine, whose tools are busybox applets; where the machine lacks a tool
// (ash, nc, ifconfig, route...) busybox provides the same one.
const busyboxPath = "/bin/busybox"

// busyboxApplets lists the applets of busybox, once. The list comes from
// `busybox --list`, run through the reaper like every child of hostd.
func (d *Daemon) busyboxApplets() map[string]bool {
	d.appletsOnce.Do(func() {
		d.applets = map[string]bool{}
		out, err := d.reaper.output(exec.Command(busyboxPath, "--list"))
		if err != nil {
			d.log.Printf("busybox applets: %v", err)
			return
		}
		for _, a := range strings.Fields(string(out)) {
			d.applets[a] = true
		}
	})
	return d.applets
}

// notFoundError is what runc reports for a command it cannot find; Docker
// turns it into exit code 127 and a 400 answer.
type notFoundError struct{ name string }

func (e *notFoundError) Error() string {
	return fmt.Sprintf("OCI runtime create failed: container_linux.go:380: starting container process caused: exec: %q: executable file not found in $PATH: unknown", e.name)
}

// appletDir makes a directory of symlinks to busybox for every applet the
// machine has no program for, in the host's state directory. hostd appends
// it to the PATH of every container process, so that `sh -c 'nc ...'` finds
// nc as an alpine shell would, not only a command hostd starts itself.
func (d *Daemon) makeAppletDir() error {
	dir := filepath.Join(d.cfg.Root, "busybox")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for a := range d.busyboxApplets() {
		if strings.Contains(a, "/") || a == "busybox" {
			continue
		}
		found := false
		for _, p := range filepath.SplitList(defaultPath) {
			found = found || isExecutable(filepath.Join(p, a))
		}
		if found {
			continue
		}
		if err := os.Symlink(busyboxPath, filepath.Join(dir, a)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	d.appletDir = dir
	return nil
}

// processEnv is the environment of a container process (tty: it has a
// terminal): the container's, with the applet directory at the end of its
// PATH.
func (d *Daemon) processEnv(c *Container, tty bool, extra ...string) []string {
	// Link variables are part of the container's environment, exec's too.
	env := mergeEnv(c.env(tty, d.linkEnv(c)), extra)
	if d.appletDir == "" {
		return env
	}
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "PATH="); ok {
			env[i] = "PATH=" + v + ":" + d.appletDir
			break
		}
	}
	return env
}

// resolveCommand turns argv into the program to execute and its argv. A
// name without a slash is looked up in the container's PATH; when it is not
// there but busybox has the applet, busybox runs it (busybox picks the applet
// from argv[0], so argv stays as the user typed it).
func (d *Daemon) resolveCommand(argv []string, env []string, dir string) (string, []string, error) {
	if len(argv) == 0 || argv[0] == "" {
		return "", nil, &notFoundError{name: ""}
	}
	name := argv[0]
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if isExecutable(p) {
			return p, argv, nil
		}
		if d.busyboxApplets()[filepath.Base(name)] && !exists(p) {
			return busyboxPath, append([]string{filepath.Base(name)}, argv[1:]...), nil
		}
		return "", nil, &notFoundError{name: name}
	}
	path := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p, argv, nil
		}
	}
	if d.busyboxApplets()[name] {
		return busyboxPath, argv, nil
	}
	return "", nil, &notFoundError{name: name}
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
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
