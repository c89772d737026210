package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"
)

func newDockerCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "docker HOST -- ARG...",
		Short: "Run the real docker CLI against a host's daemon",
		Long: `Run the docker CLI (the first on PATH) with DOCKER_HOST set to the host's
daemon socket. Arguments, standard streams and the exit status are docker's.`,
		Example: `  nslab docker node1 -- run -itd --name cm01 --network none alpine
  nslab docker node1 -- network ls
  nslab docker node1 -- exec cm01 ip a`,
		Args: args(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			host, rest, err := splitCommand(argv)
			if err != nil {
				return usageError(err)
			}
			if strings.Contains(host, "/") {
				return usageError(fmt.Errorf("%q: docker takes a HOST (use `nslab exec HOST/CONTAINER` for a container)", host))
			}
			return a.docker(host, rest)
		},
	}
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// docker replaces nslab with the docker CLI pointed at the host's daemon.
func (a *app) docker(host string, argv []string) error {
	h, err := a.openHost(host)
	if err != nil {
		return err
	}
	if h.DockerHost() == "" {
		return fmt.Errorf("lab %s: host %s is of kind %s: it runs no Docker daemon", h.LabID(), host, h.Spec.Kind)
	}
	if _, err := os.Stat(h.Socket()); err != nil {
		return fmt.Errorf("lab %s: host %s: daemon socket: %w", h.LabID(), host, err)
	}
	path, err := exec.LookPath("docker")
	if err != nil {
		return fmt.Errorf("the docker CLI is not on PATH (Debian: apt-get install docker.io): %w", err)
	}
	return execve(path, append([]string{"docker"}, argv...), dockerEnv(os.Environ(), h.DockerHost()))
}

// dockerEnv points the docker CLI at one daemon: DOCKER_HOST set, and the
// variables that would send it elsewhere (a context, TLS for a remote
// daemon) removed.
func dockerEnv(env []string, dockerHost string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_TLS":
			continue
		}
		out = append(out, kv)
	}
	return append(out, "DOCKER_HOST="+dockerHost)
}
