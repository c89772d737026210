package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns"
)

func newExecCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exec HOST[/CONTAINER] -- COMMAND [ARG...]",
		Short: "Run a command inside a host, or inside a container of a host",
		Long: `Run a command inside a virtual host (its network, UTS and mount namespaces:
its hostname, its own /run with /var/run/docker.sock, its /sys), from the
same working directory when the host has it, else from /; DOCKER_HOST and
DOCKER_CONTEXT are left out, so docker talks to the host's daemon. With
HOST/CONTAINER, run it inside a container through the real ` + "`docker exec`" + `
against the host's daemon (with -it when stdin is a terminal). Standard
streams are the caller's and the exit status is the command's.`,
		Example: `  nslab exec node1 -- ip -o addr
  nslab exec node1 -- bash
  nslab exec node1/cm01 -- ip a`,
		Args: args(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			target, command, err := splitCommand(argv)
			if err != nil {
				return usageError(err)
			}
			host, container, err := splitTarget(target)
			if err != nil {
				return usageError(err)
			}
			if container != "" {
				return a.dockerExec(host, container, command)
			}
			return a.hostExec(host, command)
		},
	}
	// Everything after HOST belongs to the command (`ip -o addr`), with or
	// without the `--`.
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// splitCommand separates TARGET from the command that follows it, dropping
// the `--` between them.
func splitCommand(argv []string) (target string, command []string, err error) {
	if len(argv) == 0 || argv[0] == "--" {
		return "", nil, errors.New("missing HOST before the command")
	}
	target, command = argv[0], argv[1:]
	if len(command) > 0 && command[0] == "--" {
		command = command[1:]
	}
	if len(command) == 0 {
		return "", nil, fmt.Errorf("%s: no command to run (usage: HOST[/CONTAINER] -- COMMAND [ARG...])", target)
	}
	return target, command, nil
}

// splitTarget parses HOST or HOST/CONTAINER.
func splitTarget(s string) (host, container string, err error) {
	host, container, found := strings.Cut(s, "/")
	switch {
	case host == "":
		return "", "", fmt.Errorf("%q: missing host name (HOST or HOST/CONTAINER)", s)
	case found && container == "":
		return "", "", fmt.Errorf("%q: missing container name after /", s)
	case strings.Contains(container, "/"):
		return "", "", fmt.Errorf("%q: want HOST or HOST/CONTAINER", s)
	}
	return host, container, nil
}

// hostExec replaces nslab with the command, entered into the host: the
// caller's terminal, signals and exit status then belong to the command
// itself, with nothing in between.
func (a *app) hostExec(host string, command []string) error {
	h, err := a.enterHost(host)
	if err != nil {
		return err
	}
	// The host sees the machine's files, so the program found here is the
	// one it runs.
	path, err := exec.LookPath(command[0])
	if err != nil {
		return fmt.Errorf("host %s: %w", host, err)
	}
	dir, _ := os.Getwd()
	if strings.HasPrefix(dir, "/run/") || strings.HasPrefix(dir, "/var/run/") {
		dir = "/" // the machine's /run is not the host's
	}
	return execIn(h.Namespaces(), dir, path, command, lab.HostEnv(os.Environ()))
}

// enterHost finds a host of the selected lab whose namespaces are there to
// be entered.
func (a *app) enterHost(name string) (*lab.Host, error) {
	h, err := a.openHost(name)
	if err != nil {
		return nil, err
	}
	if err := h.Check(); err != nil {
		return nil, err
	}
	return h, nil
}

// dockerExec runs `docker exec` against the host's daemon.
func (a *app) dockerExec(host, container string, command []string) error {
	argv := []string{"exec"}
	argv = append(argv, execFlags(isTerminal(0), isStream(0))...)
	argv = append(argv, container)
	argv = append(argv, command...)
	return a.docker(host, argv)
}

// execFlags are what a user would type: -it at a terminal; -i when input
// is piped or redirected from a file, so that it reaches the command; none
// for /dev/null and the like.
func execFlags(terminal, stream bool) []string {
	switch {
	case terminal:
		return []string{"-it"}
	case stream:
		return []string{"-i"}
	}
	return nil
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// isStream reports whether fd is a pipe, a socket or a regular file.
func isStream(fd int) bool {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return false
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFIFO, unix.S_IFSOCK, unix.S_IFREG:
		return true
	}
	return false
}

// execve replaces the process; tests replace it to see what would run.
var execve = func(path string, argv, env []string) error {
	err := syscall.Exec(path, argv, env)
	return fmt.Errorf("exec %s: %w", path, err)
}

// execIn replaces the process with a program run inside a host's
// namespaces; tests replace it to see what would run where.
var execIn = func(ns netns.Namespaces, dir, path string, argv, env []string) error {
	return ns.Exec(dir, path, argv, env)
}
