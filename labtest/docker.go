package labtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
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
	// Restart stops and starts the container again, like `docker restart`.
	Restart(ctx context.Context, name string) error
	// Port lists the container's published ports as `docker port NAME`
	// prints them, sorted: "80/tcp -> 0.0.0.0:80".
	Port(ctx context.Context, name string) ([]string, error)

	// NetworkCreate creates a network, like `docker network create`, and
	// returns its id.
	NetworkCreate(ctx context.Context, n NetworkCreate) (string, error)
	// NetworkRemove removes a network, like `docker network rm`.
	NetworkRemove(ctx context.Context, name string) error
	// NetworkConnect attaches a container, like `docker network connect`.
	NetworkConnect(ctx context.Context, network, container string) error
	// NetworkDisconnect detaches a container, like `docker network disconnect`.
	NetworkDisconnect(ctx context.Context, network, container string) error
	// NetworkList lists the networks, like `docker network ls`.
	NetworkList(ctx context.Context) ([]NetworkRow, error)
	// NetworkInspect describes a network, like `docker network inspect`.
	NetworkInspect(ctx context.Context, name string) (network.Inspect, error)
}

// NetworkCreate is a `docker network create` command line.
type NetworkCreate struct {
	Name    string
	Driver  string // -d; empty for the daemon's default (bridge)
	Subnet  string // --subnet
	Gateway string // --gateway
	// AuxAddress is --aux-address NAME=IP, one per entry.
	AuxAddress map[string]string
	// Options is -o KEY=VALUE, one per entry (macvlan's parent=eth1).
	Options map[string]string
}

// NetworkRow is one line of `docker network ls`. Through the CLI the ID is
// the 12-hex short id the table prints; through the API the full id.
type NetworkRow struct {
	ID, Name, Driver, Scope string
}

// Run is a `docker run -itd` command line.
type Run struct {
	Name    string
	Network string // --network; empty for the daemon's default
	IP      string // --ip on that network; empty for the next free one
	Image   string // default alpine, as in the documents
	Cmd     []string
	// Publish is -p, one entry per flag, as the CLI spells it:
	// "[ip:]hostPort:containerPort[/tcp|udp]", ranges "8000-8001:80-81".
	Publish []string
	// PublishAll is -P.
	PublishAll bool
	// Links is --link NAME:ALIAS, one entry per flag.
	Links []string
	// Aliases is --network-alias on the --network, one entry per flag.
	Aliases []string
	// Expose is --expose PORT[/PROTO], one entry per flag.
	Expose []string
}

// Result is what a command printed and how it ended.
type Result struct {
	Stdout, Stderr string
	ExitCode       int
}

// Ways lists both ways of driving a host, for tests that run through each.
var Ways = []func(l *Lab, host string) Docker{CLI, API}

// CLI drives a host with the real docker command-line client (the docker
// found on PATH, DOCKER_HOST set for its command only).
func CLI(l *Lab, host string) Docker {
	l.t.Helper()
	h := l.Host(host)
	if h.DockerHost() == "" {
		l.t.Fatalf("labtest: host %s runs no daemon", host)
	}
	l.usedWay("docker CLI")
	return &cliDocker{host: h}
}

type cliDocker struct{ host *Host }

func (d *cliDocker) Via() string { return "docker CLI" }
func (d *cliDocker) lab() *Lab   { return d.host.l }

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

// DockerCLI runs the docker CLI against the named host's daemon, as one
// types it there; it must exit 0 within StepTimeout. It returns stdout.
func (l *Lab) DockerCLI(host string, args ...string) string {
	l.t.Helper()
	return l.Host(host).DockerCLI(args...)
}

// DockerCLI runs the docker CLI against the host's daemon, as one types it
// there; it must exit 0 within StepTimeout. It returns stdout.
func (h *Host) DockerCLI(args ...string) string {
	h.l.t.Helper()
	ctx, cancel := h.l.step(StepTimeout)
	defer cancel()
	out, err := (&cliDocker{host: h}).ok(ctx, args...)
	if err != nil {
		h.l.t.Fatalf("labtest: on %s: %v", h.Name, err)
	}
	return out
}

// DockerCommand runs the docker CLI against the host's daemon and reports
// what it printed and how it ended; the error is non-nil only when it
// could not run.
func (h *Host) DockerCommand(ctx context.Context, args ...string) (Result, error) {
	return (&cliDocker{host: h}).docker(ctx, args...)
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
	if c.IP != "" {
		args = append(args, "--ip", c.IP)
	}
	for _, p := range c.Publish {
		args = append(args, "-p", p)
	}
	if c.PublishAll {
		args = append(args, "-P")
	}
	for _, l := range c.Links {
		args = append(args, "--link", l)
	}
	for _, a := range c.Aliases {
		args = append(args, "--network-alias", a)
	}
	for _, e := range c.Expose {
		args = append(args, "--expose", e)
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

func (d *cliDocker) Restart(ctx context.Context, name string) error {
	_, err := d.ok(ctx, "restart", name)
	return err
}

func (d *cliDocker) Port(ctx context.Context, name string) ([]string, error) {
	out, err := d.ok(ctx, "port", name)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil, nil
	}
	slices.Sort(lines)
	return lines, nil
}

// API drives a host with the Docker Engine API client of the moby client
// module (Host.Docker).
func API(l *Lab, host string) Docker {
	l.t.Helper()
	h := l.Host(host)
	c := h.Docker()
	l.usedWay("Docker API")
	return &apiDocker{c: c, host: h}
}

type apiDocker struct {
	c    *client.Client
	host *Host
}

func (d *apiDocker) Via() string { return "Docker API" }
func (d *apiDocker) lab() *Lab   { return d.host.l }

func (d *apiDocker) Run(ctx context.Context, c Run) error {
	cfg := &container.Config{Image: image(c), Cmd: c.Cmd, Tty: true, OpenStdin: true}
	hc := &container.HostConfig{NetworkMode: container.NetworkMode(c.Network), Links: c.Links, PublishAllPorts: c.PublishAll}
	if len(c.Publish) > 0 {
		exposed, bindings, err := publishSpecs(c.Publish)
		if err != nil {
			return fmt.Errorf("run %s: -p: %w", c.Name, err)
		}
		cfg.ExposedPorts, hc.PortBindings = exposed, bindings
	}
	for _, e := range c.Expose {
		// What the docker CLI sends for --expose: one more exposed port.
		p, err := network.ParsePort(withProto(e))
		if err != nil {
			return fmt.Errorf("run %s: --expose %s: %w", c.Name, e, err)
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = network.PortSet{}
		}
		cfg.ExposedPorts[p] = struct{}{}
	}
	var nc *network.NetworkingConfig
	if c.IP != "" || len(c.Aliases) > 0 {
		// What the docker CLI sends for --ip and --network-alias: the
		// endpoint settings of the --network.
		es := &network.EndpointSettings{Aliases: c.Aliases}
		if c.IP != "" {
			a, err := netip.ParseAddr(c.IP)
			if err != nil {
				return fmt.Errorf("run %s: --ip: %w", c.Name, err)
			}
			es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: a}
		}
		nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{c.Network: es}}
	}
	r, err := d.c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: c.Name, Config: cfg, HostConfig: hc, NetworkingConfig: nc})
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

func (d *apiDocker) Restart(ctx context.Context, name string) error {
	_, err := d.c.ContainerRestart(ctx, name, client.ContainerRestartOptions{})
	return err
}

// Port formats inspect's NetworkSettings.Ports as the docker CLI's `port`
// command does: one line per host binding, none for a port only exposed.
func (d *apiDocker) Port(ctx context.Context, name string) ([]string, error) {
	r, err := d.c.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return nil, err
	}
	var lines []string
	if ns := r.Container.NetworkSettings; ns != nil {
		for p, bs := range ns.Ports {
			for _, b := range bs {
				ip := "0.0.0.0"
				if b.HostIP.IsValid() {
					ip = b.HostIP.String()
				}
				lines = append(lines, fmt.Sprintf("%s -> %s", p, net.JoinHostPort(ip, b.HostPort)))
			}
		}
	}
	slices.Sort(lines)
	return lines, nil
}

func image(c Run) string {
	if c.Image == "" {
		return "alpine"
	}
	return c.Image
}

func (d *cliDocker) NetworkCreate(ctx context.Context, n NetworkCreate) (string, error) {
	args := []string{"network", "create"}
	if n.Driver != "" {
		args = append(args, "-d", n.Driver)
	}
	if n.Subnet != "" {
		args = append(args, "--subnet", n.Subnet)
	}
	if n.Gateway != "" {
		args = append(args, "--gateway", n.Gateway)
	}
	for _, k := range slices.Sorted(maps.Keys(n.AuxAddress)) {
		args = append(args, "--aux-address", k+"="+n.AuxAddress[k])
	}
	for _, k := range slices.Sorted(maps.Keys(n.Options)) {
		args = append(args, "-o", k+"="+n.Options[k])
	}
	out, err := d.ok(ctx, append(args, n.Name)...)
	return strings.TrimSpace(out), err
}

func (d *cliDocker) NetworkRemove(ctx context.Context, name string) error {
	_, err := d.ok(ctx, "network", "rm", name)
	return err
}

func (d *cliDocker) NetworkConnect(ctx context.Context, network, container string) error {
	_, err := d.ok(ctx, "network", "connect", network, container)
	return err
}

func (d *cliDocker) NetworkDisconnect(ctx context.Context, network, container string) error {
	_, err := d.ok(ctx, "network", "disconnect", network, container)
	return err
}

// NetworkList reads the table `docker network ls` prints, as a student
// reads it: a header, then ID, name, driver and scope per line.
func (d *cliDocker) NetworkList(ctx context.Context) ([]NetworkRow, error) {
	out, err := d.ok(ctx, "network", "ls")
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || strings.Join(strings.Fields(lines[0]), " ") != "NETWORK ID NAME DRIVER SCOPE" {
		return nil, fmt.Errorf("docker network ls: unexpected header in:\n%s", out)
	}
	var rows []NetworkRow
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) != 4 {
			return nil, fmt.Errorf("docker network ls: line %q has %d columns, want 4", line, len(f))
		}
		rows = append(rows, NetworkRow{ID: f[0], Name: f[1], Driver: f[2], Scope: f[3]})
	}
	return rows, nil
}

// NetworkInspect decodes the JSON array `docker network inspect` prints.
func (d *cliDocker) NetworkInspect(ctx context.Context, name string) (network.Inspect, error) {
	out, err := d.ok(ctx, "network", "inspect", name)
	if err != nil {
		return network.Inspect{}, err
	}
	var ns []network.Inspect
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		return network.Inspect{}, fmt.Errorf("docker network inspect %s: %w", name, err)
	}
	if len(ns) != 1 {
		return network.Inspect{}, fmt.Errorf("docker network inspect %s: %d networks, want 1", name, len(ns))
	}
	return ns[0], nil
}

func (d *apiDocker) NetworkCreate(ctx context.Context, n NetworkCreate) (string, error) {
	o := client.NetworkCreateOptions{Driver: n.Driver, Options: n.Options}
	if n.Subnet != "" || n.Gateway != "" || len(n.AuxAddress) > 0 {
		var c network.IPAMConfig
		var err error
		if n.Subnet != "" {
			if c.Subnet, err = netip.ParsePrefix(n.Subnet); err != nil {
				return "", fmt.Errorf("network create %s: subnet: %w", n.Name, err)
			}
		}
		if n.Gateway != "" {
			if c.Gateway, err = netip.ParseAddr(n.Gateway); err != nil {
				return "", fmt.Errorf("network create %s: gateway: %w", n.Name, err)
			}
		}
		for k, v := range n.AuxAddress {
			a, err := netip.ParseAddr(v)
			if err != nil {
				return "", fmt.Errorf("network create %s: aux-address %s: %w", n.Name, k, err)
			}
			if c.AuxAddress == nil {
				c.AuxAddress = map[string]netip.Addr{}
			}
			c.AuxAddress[k] = a
		}
		// The docker CLI sends the IPAM driver "default" with --subnet.
		o.IPAM = &network.IPAM{Driver: "default", Config: []network.IPAMConfig{c}}
	}
	r, err := d.c.NetworkCreate(ctx, n.Name, o)
	if err != nil {
		return "", fmt.Errorf("network create %s: %w", n.Name, err)
	}
	return r.ID, nil
}

func (d *apiDocker) NetworkRemove(ctx context.Context, name string) error {
	_, err := d.c.NetworkRemove(ctx, name, client.NetworkRemoveOptions{})
	return err
}

func (d *apiDocker) NetworkConnect(ctx context.Context, network, container string) error {
	_, err := d.c.NetworkConnect(ctx, network, client.NetworkConnectOptions{Container: container})
	return err
}

func (d *apiDocker) NetworkDisconnect(ctx context.Context, network, container string) error {
	_, err := d.c.NetworkDisconnect(ctx, network, client.NetworkDisconnectOptions{Container: container})
	return err
}

func (d *apiDocker) NetworkList(ctx context.Context) ([]NetworkRow, error) {
	r, err := d.c.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return nil, err
	}
	var rows []NetworkRow
	for _, n := range r.Items {
		rows = append(rows, NetworkRow{ID: n.ID, Name: n.Name, Driver: n.Driver, Scope: n.Scope})
	}
	return rows, nil
}

func (d *apiDocker) NetworkInspect(ctx context.Context, name string) (network.Inspect, error) {
	r, err := d.c.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil {
		return network.Inspect{}, err
	}
	return r.Network, nil
}

// publishSpecs turns -p values into what the docker CLI sends: the exposed
// ports of the config and the host config's bindings, a range expanded
// port by port.
func publishSpecs(specs []string) (network.PortSet, network.PortMap, error) {
	exposed, bindings := network.PortSet{}, network.PortMap{}
	for _, s := range specs {
		proto := "tcp"
		if i := strings.LastIndexByte(s, '/'); i >= 0 {
			s, proto = s[:i], s[i+1:]
		}
		var hostIP, hostPart, ctrPart string
		parts := strings.Split(s, ":")
		switch len(parts) {
		case 1:
			ctrPart = parts[0]
		case 2:
			hostPart, ctrPart = parts[0], parts[1]
		case 3:
			hostIP, hostPart, ctrPart = parts[0], parts[1], parts[2]
		default:
			return nil, nil, fmt.Errorf("%q: want [ip:]hostPort:containerPort[/proto]", s)
		}
		ctr, err := portRange(ctrPart)
		if err != nil {
			return nil, nil, fmt.Errorf("%q: container port: %w", s, err)
		}
		host := [2]int{}
		if hostPart != "" {
			if host, err = portRange(hostPart); err != nil {
				return nil, nil, fmt.Errorf("%q: host port: %w", s, err)
			}
			if n, m := ctr[1]-ctr[0], host[1]-host[0]; n != m && m != 0 {
				return nil, nil, fmt.Errorf("%q: the ranges differ in length", s)
			}
		}
		for i := 0; i <= ctr[1]-ctr[0]; i++ {
			p, err := network.ParsePort(fmt.Sprintf("%d/%s", ctr[0]+i, proto))
			if err != nil {
				return nil, nil, fmt.Errorf("%q: %w", s, err)
			}
			exposed[p] = struct{}{}
			b := network.PortBinding{}
			if hostIP != "" {
				a, err := netip.ParseAddr(hostIP)
				if err != nil {
					return nil, nil, fmt.Errorf("%q: host ip: %w", s, err)
				}
				b.HostIP = a
			}
			switch {
			case hostPart == "":
			case host[0] == host[1]:
				b.HostPort = strconv.Itoa(host[0])
			case ctr[0] == ctr[1]:
				// One container port, a host range: the daemon picks a
				// free port of the range.
				b.HostPort = fmt.Sprintf("%d-%d", host[0], host[1])
			default:
				b.HostPort = strconv.Itoa(host[0] + i)
			}
			bindings[p] = append(bindings[p], b)
		}
	}
	return exposed, bindings, nil
}

// withProto is a port as the API keys it: "80" is "80/tcp".
func withProto(port string) string {
	if strings.Contains(port, "/") {
		return port
	}
	return port + "/tcp"
}

// portRange parses "80" or "8000-8001".
func portRange(s string) ([2]int, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := strconv.Atoi(lo)
	if err != nil || a < 1 || a > 65535 {
		return [2]int{}, fmt.Errorf("%q is not a port", s)
	}
	b := a
	if isRange {
		if b, err = strconv.Atoi(hi); err != nil || b < a || b > 65535 {
			return [2]int{}, fmt.Errorf("%q is not a port range", s)
		}
	}
	return [2]int{a, b}, nil
}
