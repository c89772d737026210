package scenarios

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/testcontainers/testcontainers-go"

	"github.com/nslab/nslab/lab"
)

// Docker is how a spec drives one virtual host's daemon: the way the
// documents do it (the docker CLI), or the Docker Engine API client. The
// exercises run through both.
type Docker interface {
	// Via names the way: "docker CLI" or "Docker API".
	Via() string
	// Run creates and starts a detached container, like `docker run -itd`.
	Run(ctx context.Context, c Run) error
	// Exec runs a command in a running container, like `docker exec`.
	Exec(ctx context.Context, name string, cmd ...string) (Result, error)
	// Pid is the container's main process id on the machine.
	Pid(ctx context.Context, name string) (int, error)
	// Remove removes the container, running or not, like `docker rm -f`.
	Remove(ctx context.Context, name string) error
}

// Run is a `docker run -itd` command line.
type Run struct {
	Name    string
	Network string // --network; empty for the daemon's default
	Image   string // default alpine, as in the documents
	Cmd     []string
}

// Result is what a command printed and how it ended.
type Result struct {
	Stdout, Stderr string
	ExitCode       int
}

// Ways lists both ways of driving a host, for specs that run through each.
var Ways = []func(l *Lab, host string) Docker{CLI, API}

// CLI drives a host with the real docker command-line client.
func CLI(l *Lab, host string) Docker {
	GinkgoHelper()
	h := l.H(host)
	Expect(h.DockerHost()).NotTo(BeEmpty(), "host %s runs no daemon", host)
	return &cliDocker{host: h}
}

type cliDocker struct{ host *lab.Host }

func (d *cliDocker) Via() string { return "docker CLI" }

// Docker runs `docker ARGS...` against the host's daemon.
func (d *cliDocker) docker(ctx context.Context, args ...string) (Result, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.host.DockerHost())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.ExitCode = ee.ExitCode()
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("docker %s: %w", strings.Join(args, " "), err)
	}
	return r, nil
}

func (d *cliDocker) ok(ctx context.Context, args ...string) (string, error) {
	r, err := d.docker(ctx, args...)
	if err != nil {
		return "", err
	}
	if r.ExitCode != 0 {
		return "", fmt.Errorf("docker %s: exit %d: %s", strings.Join(args, " "), r.ExitCode, r.Stderr)
	}
	return r.Stdout, nil
}

func (d *cliDocker) Run(ctx context.Context, c Run) error {
	args := []string{"run", "-itd", "--name", c.Name}
	if c.Network != "" {
		args = append(args, "--network", c.Network)
	}
	args = append(args, image(c))
	_, err := d.ok(ctx, append(args, c.Cmd...)...)
	return err
}

func (d *cliDocker) Exec(ctx context.Context, name string, cmd ...string) (Result, error) {
	return d.docker(ctx, append([]string{"exec", name}, cmd...)...)
}

func (d *cliDocker) Pid(ctx context.Context, name string) (int, error) {
	out, err := d.ok(ctx, "inspect", "-f", "{{.State.Pid}}", name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(out))
}

func (d *cliDocker) Remove(ctx context.Context, name string) error {
	_, err := d.ok(ctx, "rm", "-f", name)
	return err
}

// API drives a host with the Docker Engine API client, built the way
// testcontainers-go builds it, pointed at the host's socket.
func API(l *Lab, host string) Docker {
	GinkgoHelper()
	h := l.H(host)
	Expect(h.DockerHost()).NotTo(BeEmpty(), "host %s runs no daemon", host)
	c, err := NewClient(h.DockerHost())
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(c.Close)
	return &apiDocker{c: c}
}

var tcHostOnce sync.Once

// NewClient returns a Docker API client for one daemon socket.
func NewClient(dockerHost string) (*client.Client, error) {
	// testcontainers-go insists on finding a Docker host of its own before it
	// applies our WithHost, and caches the first answer for the process; on a
	// machine with no dockerd the only one is ours, so name it once.
	tcHostOnce.Do(func() {
		if os.Getenv("DOCKER_HOST") == "" {
			os.Setenv("DOCKER_HOST", dockerHost)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := testcontainers.NewDockerClientWithOpts(ctx, client.WithHost(dockerHost))
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", dockerHost, err)
	}
	return c.Client, nil
}

type apiDocker struct{ c *client.Client }

func (d *apiDocker) Via() string { return "Docker API" }

func (d *apiDocker) Run(ctx context.Context, c Run) error {
	cfg := &container.Config{Image: image(c), Cmd: c.Cmd, Tty: true, OpenStdin: true}
	hc := &container.HostConfig{NetworkMode: container.NetworkMode(c.Network)}
	r, err := d.c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: c.Name, Config: cfg, HostConfig: hc})
	if err != nil {
		return fmt.Errorf("create %s: %w", c.Name, err)
	}
	if _, err := d.c.ContainerStart(ctx, r.ID, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", c.Name, err)
	}
	return nil
}

func (d *apiDocker) Exec(ctx context.Context, name string, cmd ...string) (Result, error) {
	e, err := d.c.ExecCreate(ctx, name, client.ExecCreateOptions{AttachStdout: true, AttachStderr: true, Cmd: cmd})
	if err != nil {
		return Result{}, fmt.Errorf("exec create in %s: %w", name, err)
	}
	a, err := d.c.ExecAttach(ctx, e.ID, client.ExecAttachOptions{})
	if err != nil {
		return Result{}, fmt.Errorf("exec start in %s: %w", name, err)
	}
	defer a.Close()
	var out, errb bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errb, a.Reader); err != nil {
		return Result{}, fmt.Errorf("exec output from %s: %w", name, err)
	}
	// The stream ends when the process does; its exit code may take a moment
	// to be recorded.
	deadline := time.Now().Add(5 * time.Second)
	for {
		i, err := d.c.ExecInspect(ctx, e.ID, client.ExecInspectOptions{})
		if err != nil {
			return Result{}, fmt.Errorf("exec inspect in %s: %w", name, err)
		}
		if !i.Running {
			return Result{Stdout: out.String(), Stderr: errb.String(), ExitCode: i.ExitCode}, nil
		}
		if time.Now().After(deadline) {
			return Result{}, fmt.Errorf("exec in %s: still running after its output ended", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *apiDocker) Pid(ctx context.Context, name string) (int, error) {
	r, err := d.c.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return 0, err
	}
	return r.Container.State.Pid, nil
}

func (d *apiDocker) Remove(ctx context.Context, name string) error {
	_, err := d.c.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true})
	return err
}

func image(c Run) string {
	if c.Image == "" {
		return "alpine"
	}
	return c.Image
}

// MustRun runs a container and fails the spec if it does not start.
func MustRun(d Docker, c Run) {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	Expect(d.Run(ctx, c)).To(Succeed(), "run %s via %s", c.Name, d.Via())
}

// MustExec runs a command in a container; it must exit 0. It returns stdout.
func MustExec(d Docker, name string, cmd ...string) string {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := d.Exec(ctx, name, cmd...)
	Expect(err).NotTo(HaveOccurred())
	Expect(r.ExitCode).To(BeZero(), "exec %v in %s via %s: %s", cmd, name, d.Via(), r.Stderr)
	return r.Stdout
}

// NetNSOf returns the network namespace path of a container's main process.
func NetNSOf(d Docker, name string) string {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pid, err := d.Pid(ctx, name)
	Expect(err).NotTo(HaveOccurred())
	Expect(pid).To(BeNumerically(">", 0), "container %s has no process", name)
	return fmt.Sprintf("/proc/%d/ns/net", pid)
}
