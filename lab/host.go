package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/nslab/nslab/netns"
)

// Host is one virtual host of a running lab.
type Host struct {
	Name string
	Spec HostSpec

	lab    *Lab
	index  int    // position in the topology; names its fabric legs
	dir    string // <state dir>/<host>; docker hosts only
	socket string // Docker API socket; docker hosts only

	// Guarded by lab.mu once the lab is up.
	pid    int           // hostd
	exited chan struct{} // closed when hostd, started by this process, exits
	ready  *os.File      // hostd's ready pipe, until waitReady reads it
	etcd   *etcdMember   // the etcd member this process started, if any
	demand *onDemand     // the listeners that start hostd (Options.OnDemand)
}

// LabID returns the id of the host's lab.
func (h *Host) LabID() string { return h.lab.ID() }

// NetNS returns the host's namespace pin, /run/netns/<id>-<host>.
func (h *Host) NetNS() string { return netns.Path(h.lab.ID() + "-" + h.Name) }

// Socket returns the path of the host's Docker API socket ("" for plain hosts).
func (h *Host) Socket() string { return h.socket }

// DockerHost returns the DOCKER_HOST value for the host's daemon ("" for
// plain hosts).
func (h *Host) DockerHost() string {
	if h.socket == "" {
		return ""
	}
	return "unix://" + h.socket
}

// Logs returns the host's daemon logs that exist: hostd.log or
// dockerd.log, etcd.log on the topology's etcd hosts, and Open vSwitch's
// ovsdb-server.log and ovs-vswitchd.log.
func (h *Host) Logs() []string {
	var logs []string
	for _, p := range []string{h.logPath(), h.dockerdLog(), h.etcdLog(), h.ovsLog("ovsdb-server"), h.ovsLog("ovs-vswitchd")} {
		if _, err := os.Stat(p); err == nil {
			logs = append(logs, p)
		}
	}
	return logs
}

// ContainerNetNS returns the pin hostd gives a container's namespace,
// /run/netns/<id>-<host>-<name>.
func (h *Host) ContainerNetNS(name string) string {
	return netns.Path(h.lab.ID() + "-" + h.Name + "-" + name)
}

// HostdPID returns the pid of the host's hostd (0 for plain hosts or when
// it is not known).
func (h *Host) HostdPID() int {
	h.lab.mu.Lock()
	defer h.lab.mu.Unlock()
	return h.hostdPID()
}

// hostdPID is HostdPID with lab.mu held. A lab opened from its state dir
// that has no pid recorded yet (Up still running elsewhere) asks the pid
// file hostd writes.
func (h *Host) hostdPID() int {
	if h.pid == 0 && h.dir != "" {
		if b, err := os.ReadFile(h.dir + "/hostd.pid"); err == nil {
			h.pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	return h.pid
}

// Command prepares argv to run inside the host, as if typed there: in its
// network, UTS and mount namespaces (see hostns.go), from the host's /, so
// that `hostname` prints the host's name, `ip netns list` lists the host's
// own /var/run/netns and `docker` finds the host's daemon at
// /var/run/docker.sock. The caller's DOCKER_HOST and DOCKER_CONTEXT are
// left out: they would name a daemon of the machine or of another host.
func (h *Host) Command(ctx context.Context, argv ...string) *exec.Cmd {
	cmd := h.command(ctx, argv...)
	// A plain host's first use makes its namespaces; what fails to make
	// them fails the command's Start.
	if err := h.Check(); err != nil {
		cmd.Err = err
	}
	return cmd
}

// command is Command for a caller that has run Check.
func (h *Host) command(ctx context.Context, argv ...string) *exec.Cmd {
	ns := h.Namespaces()
	args := []string{"--net=" + ns.Net, "--uts=" + ns.UTS, "--mount=" + ns.Mnt, "--"}
	args = append(args, argv...)
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	cmd.Env = HostEnv(os.Environ())
	return cmd
}

// HostEnv is env without the variables that point the docker CLI at some
// daemon (DOCKER_HOST, DOCKER_CONTEXT): inside a host, the CLI's default,
// /var/run/docker.sock, is the host's own daemon.
func HostEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "DOCKER_HOST=") && !strings.HasPrefix(kv, "DOCKER_CONTEXT=") {
			out = append(out, kv)
		}
	}
	return out
}

// Check says whether the host's namespaces are there to be entered, makes
// a plain host's UTS and mount namespaces at its first use (see hostns.go)
// and starts the daemon of a docker host of an on-demand lab (see
// ondemand.go). Call it before entering them.
func (h *Host) Check() error {
	if _, err := os.Stat(h.NetNS()); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	if err := h.ensureHostNamespaces(); err != nil {
		return err
	}
	return h.ensureDaemon()
}

// ExecResult is what a command run inside a host printed and how it ended.
type ExecResult struct {
	Stdout, Stderr string
	ExitCode       int
}

// Exec runs argv inside the host and waits for it. The error is non-nil
// only when the command could not run or was cut short by ctx; a command
// that ran and failed reports that in ExitCode.
func (h *Host) Exec(ctx context.Context, argv ...string) (ExecResult, error) {
	if len(argv) == 0 {
		return ExecResult{}, fmt.Errorf("host %s: exec: no command", h.Name)
	}
	if err := h.Check(); err != nil {
		return ExecResult{}, fmt.Errorf("exec %s: %w", argv[0], err)
	}
	cmd := h.command(ctx, argv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := ExecResult{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		r.ExitCode = -1
		return r, fmt.Errorf("host %s: exec %s: %w", h.Name, argv[0], ctx.Err())
	case errors.As(err, &ee):
		r.ExitCode = ee.ExitCode()
	default:
		return r, fmt.Errorf("host %s: exec %s: %w", h.Name, argv[0], err)
	}
	return r, nil
}
