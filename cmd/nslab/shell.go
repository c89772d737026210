package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

func newShellCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "shell HOST",
		Short: "Open an interactive login shell on a host, as if logged in over ssh",
		Long: `Open an interactive login shell ($SHELL, else /bin/bash) on a virtual host:
in its network, UTS and mount namespaces, in your home directory, with the
environment a login gives (TERM, language, HOME, USER, SHELL, a standard
PATH) and nothing of the machine's docker settings, so that ` + "`docker ps`" + ` talks
to the host's daemon at /var/run/docker.sock, ` + "`ip netns list`" + ` lists the host's
own /var/run/netns and the prompt carries the host's name (bash, with the lab
id in front as Debian shows a chroot's name). Leave with exit.`,
		Example: `  nslab shell node1
  nslab --lab classroom shell node2`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			h, err := a.enterHost(argv[0])
			if err != nil {
				return err
			}
			shell := loginShell(os.Getenv("SHELL"))
			path, err := exec.LookPath(shell)
			if err != nil {
				return fmt.Errorf("host %s: login shell: %w", h.Name, err)
			}
			env, home := loginEnv(os.Environ(), shell, h.Name)
			env = append(env, "debian_chroot="+h.LabID())
			// A login shell's argv[0] starts with '-', as login(1) and
			// sshd start it: bash then reads /etc/profile and ~/.profile.
			return execIn(h.Namespaces(), home, path, []string{"-" + filepath.Base(shell)}, env)
		},
	}
}

// loginShell is the user's shell, or /bin/bash.
func loginShell(shell string) string {
	if shell != "" {
		if _, err := exec.LookPath(shell); err == nil {
			return shell
		}
	}
	return "/bin/bash"
}

// loginEnv is the environment of a login on the host: what a terminal and
// the user's language need, and what login(1) sets. Everything else of
// the caller's (DOCKER_HOST, proxies, the machine's PATH) stays outside.
func loginEnv(env []string, shell, host string) (out []string, home string) {
	out = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"SHELL=" + shell,
		"NSLAB_HOST=" + host,
		// Shells that keep it (bash replaces it with Debian's, which also
		// shows the host name) prompt with user@host:dir.
		`PS1=\u@\h:\w\$ `,
	}
	home = "/root"
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "HOME" && v != "":
			home = v
		case k == "TERM", k == "LANG", k == "LANGUAGE", k == "USER", k == "LOGNAME", k == "NSLAB_LAB",
			strings.HasPrefix(k, "LC_"):
			out = append(out, kv)
		}
	}
	return append(out, "HOME="+home), home
}
