package lab

import (
	"fmt"

	"github.com/moby/moby/client"
)

// APIVersion is the Docker Engine API version the lab speaks to a host's
// daemon: dockerd 20.10's, which hostd answers too. Fixing it spares the
// version negotiation (a /_ping) before the first call.
const APIVersion = "1.41"

// DockerClient returns a Docker Engine API client for the host's daemon,
// hostd or dockerd, on its unix socket. Close it.
func (h *Host) DockerClient() (*client.Client, error) {
	if h.socket == "" {
		return nil, fmt.Errorf("host %s is of kind %s: it runs no Docker daemon", h.Name, h.Spec.Kind)
	}
	return dockerClient(h.socket)
}

// dockerClient returns a Docker Engine API client for the daemon on
// socket. Close it.
func dockerClient(socket string) (*client.Client, error) {
	c, err := client.New(client.WithHost("unix://"+socket), client.WithAPIVersion(APIVersion))
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", socket, err)
	}
	return c, nil
}
