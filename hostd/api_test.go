package hostd_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"
)

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestPingVersionInfo(t *testing.T) {
	h := startHostd(t)
	ctx := context.Background()
	for _, path := range []string{"/_ping", "/v1.41/_ping", "/v1.99/_ping", "/v1.12/_ping"} {
		for _, method := range []string{"GET", "HEAD"} {
			code, hdr, body := h.api(method, path, "")
			want := "OK"
			if method == "HEAD" {
				want = ""
			}
			if code != 200 || body != want || hdr.Get("Api-Version") != "1.41" || hdr.Get("Docker-Experimental") != "false" || hdr.Get("Ostype") != "linux" {
				t.Errorf("%s %s: %d %q %v", method, path, code, body, hdr)
			}
		}
	}
	ping, err := h.cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil || ping.APIVersion != "1.41" || ping.OSType != "linux" || ping.Experimental {
		t.Fatalf("ping %+v %v", ping, err)
	}
	if h.cli.ClientVersion() != "1.41" {
		t.Fatalf("client negotiated %s", h.cli.ClientVersion())
	}
	v, err := h.cli.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil || v.Version != "20.10.24" || v.APIVersion != "1.41" || v.MinAPIVersion != "1.12" || v.Os != "linux" || len(v.Components) != 1 || v.Components[0].Name != "Engine" {
		t.Fatalf("version %+v %v", v, err)
	}
	info, err := h.cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if i := info.Info; i.Name != "h1" || i.Driver != "nslab" || i.ServerVersion != "20.10.24" || i.DockerRootDir != h.cfg.DataRoot || i.Images != 1 || i.NCPU < 1 || i.MemTotal <= 0 || i.OSType != "linux" {
		t.Fatalf("info %+v", i)
	}
	// The daemon's own hostname is the host's, in its UTS namespace only.
	if own, _ := os.Hostname(); own == "h1" {
		t.Fatal("hostd changed the machine's hostname")
	}
}

func TestNetworksAPI(t *testing.T) {
	h := startHostd(t)
	ctx := context.Background()
	list, err := h.cli.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil || len(list.Items) != 3 {
		t.Fatalf("network list %+v %v", list, err)
	}
	for _, n := range list.Items {
		if !hex64.MatchString(n.ID) || n.Scope != "local" || (n.Name == "host") != (n.Driver == "host") || (n.Name == "none") != (n.Driver == "null") || (n.Name == "bridge") != (n.Driver == "bridge") {
			t.Errorf("network %+v", n)
		}
	}
	f := make(client.Filters).Add("driver", "null")
	if l, _ := h.cli.NetworkList(ctx, client.NetworkListOptions{Filters: f}); len(l.Items) != 1 || l.Items[0].Name != "none" {
		t.Errorf("driver=null: %+v", l.Items)
	}
	if l, _ := h.cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("type", "custom")}); len(l.Items) != 0 {
		t.Errorf("type=custom: %+v", l.Items)
	}
	ins, err := h.cli.NetworkInspect(ctx, "host", client.NetworkInspectOptions{})
	if err != nil || ins.Network.Name != "host" || ins.Network.IPAM.Driver != "default" || len(ins.Network.Containers) != 0 {
		t.Fatalf("inspect host %+v %v", ins.Network, err)
	}
	// The id is stable: a restart of the daemon (a new hostd) keeps it.
	if byPrefix, err := h.cli.NetworkInspect(ctx, ins.Network.ID[:12], client.NetworkInspectOptions{}); err != nil || byPrefix.Network.Name != "host" {
		t.Fatalf("inspect by id prefix: %v", err)
	}
	h.wantError("DELETE", "/v1.41/networks/host", "", 403, "host is a pre-defined network and cannot be removed")
	h.wantError("DELETE", "/v1.41/networks/none", "", 403, "none is a pre-defined network and cannot be removed")
	h.wantError("DELETE", "/v1.41/networks/bridge", "", 403, "bridge is a pre-defined network and cannot be removed")
	h.wantError("POST", "/v1.41/networks/create", `{"Name":"m1","Driver":"nope"}`, 404, `plugin "nope" not found`)
	h.wantError("POST", "/v1.41/networks/create", `{"Name":"h2","Driver":"host"}`, 403, `only one instance of "host" network is allowed`)
	h.wantError("POST", "/v1.41/networks/create", `{"Name":"none","Driver":"null"}`, 403, "operation is not permitted on predefined none network ")
	h.wantError("GET", "/v1.41/networks/nope", "", 404, "network nope not found")
	h.wantError("GET", `/v1.41/networks?filters={"type":{"x":true}}`, "", 400, "invalid filter: 'type'='x'")
	code, _, body := h.api("POST", "/v1.41/networks/prune", "")
	if code != 200 || !strings.Contains(body, `"NetworksDeleted":null`) {
		t.Fatalf("prune: %d %s", code, body)
	}
}

func TestErrorsAsDocker(t *testing.T) {
	h := startHostd(t)
	ctx := context.Background()
	cc, err := h.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       "cm01",
		Config:     &container.Config{Image: "alpine", Tty: true, OpenStdin: true},
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := cc.ID
	h.wantError("POST", "/v1.41/containers/create?name=cm01", `{"Image":"alpine","HostConfig":{"NetworkMode":"none"}}`, 409,
		`Conflict. The container name "/cm01" is already in use by container "`+id+`". You have to remove (or rename) that container to be able to reuse that name.`)
	h.wantError("POST", "/v1.41/containers/create?name=bad%20name", `{"Image":"alpine"}`, 400, "Invalid container name (bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
	h.wantError("POST", "/v1.41/containers/create", `{"Image":`, 400, "unexpected EOF")
	h.wantError("POST", "/v1.41/containers/create", "", 400, "Config cannot be empty in order to create a container")
	h.wantError("POST", "/v1.41/containers/create", `{"Image":"alpine","Hostname":"x","HostConfig":{"NetworkMode":"container:cm01"}}`, 400, "conflicting options: hostname and the network mode")
	h.wantError("POST", "/v1.41/containers/create", `{"Image":"alpine","HostConfig":{"NetworkMode":"none"},"NetworkingConfig":{"EndpointsConfig":{"none":{"Aliases":["a"]}}}}`, 400, "network-scoped alias is supported only for containers in user defined networks")
	h.wantError("GET", "/v1.41/containers/nope/json", "", 404, "No such container: nope")
	h.wantError("GET", "/v1.99/containers/nope/json", "", 404, "No such container: nope")
	h.wantError("GET", "/containers/nope/json", "", 404, "No such container: nope")
	h.wantError("GET", "/v1.41/exec/nope/json", "", 404, "No such exec instance: nope")
	h.wantError("POST", "/v1.41/exec/nope/start", `{}`, 404, "No such exec instance: nope")
	h.wantError("GET", "/v1.41/images/nosuch/json", "", 404, "no such image: nosuch: No such image: nosuch:latest")
	h.wantError("GET", "/v1.41/no/such/route", "", 404, "page not found")
	// Exec on a created (not running) container.
	h.wantError("POST", "/v1.41/containers/cm01/exec", `{"Cmd":["true"]}`, 409, "Container "+id+" is not running")
	h.wantError("POST", "/v1.41/containers/cm01/kill", "", 409, "Cannot kill container: "+id+": Container "+id+" is not running")
	if code, _, _ := h.api("POST", "/v1.41/containers/cm01/stop", ""); code != 304 {
		t.Errorf("stop of a created container: %d, want 304", code)
	}
	if _, err := h.cli.ContainerStart(ctx, "cm01", client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := h.api("POST", "/v1.41/containers/cm01/start", ""); code != 304 {
		t.Errorf("start of a running container: %d, want 304", code)
	}
	h.wantError("DELETE", "/v1.41/containers/cm01", "", 409, "You cannot remove a running container "+id+". Stop the container before attempting removal or force remove")
	h.wantError("POST", "/v1.41/containers/cm01/kill?signal=SIGFOO", "", 400, "Invalid signal: SIGFOO")
	h.wantError("POST", "/v1.41/containers/cm01/stop?t=abc", "", 400, "invalid value for t: abc")
	h.wantError("POST", "/v1.41/containers/cm01/wait?condition=never", "", 400, `invalid condition: "never"`)
	h.wantError("POST", "/v1.41/networks/host/connect", `{"Container":"cm01"}`, 400, "container sharing network namespace with another container or host cannot be connected to any other network")
	h.wantError("POST", "/v1.41/networks/none/connect", `{"Container":"cm01"}`, 403, "endpoint with name cm01 already exists in network none")
	h.wantError("POST", "/v1.41/networks/none/connect", `{"Container":"nope"}`, 404, "No such container: nope")
	h.wantError("POST", "/v1.41/containers/cm01/exec", `{"Cmd":[]}`, 400, "No exec command specified")
	// Container mode needs the other container running, and existing.
	h.wantError("POST", "/v1.41/containers/create?name=cx", `{"Image":"alpine","HostConfig":{"NetworkMode":"container:nope"}}`, 201, "")
	h.wantError("POST", "/v1.41/containers/cx/start", "", 404, "No such container: nope")
	// Host mode: disconnecting from host is refused without force.
	if _, err := h.cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: "hm", Config: &container.Config{Image: "alpine", Cmd: []string{"sleep", "60"}}, HostConfig: &container.HostConfig{NetworkMode: "host"}}); err != nil {
		t.Fatal(err)
	}
	h.wantError("POST", "/v1.41/networks/host/disconnect", `{"Container":"hm"}`, 400, "container cannot be disconnected from host network or connected to host network")
	// An exec runs once.
	ex, err := h.cli.ExecCreate(ctx, "cm01", client.ExecCreateOptions{Cmd: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.cli.ExecStart(ctx, ex.ID, client.ExecStartOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() error {
		if i, err := h.cli.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{}); err != nil || i.Running || i.PID == 0 {
			return fmt.Errorf("exec not finished: %+v %v", i, err)
		}
		return nil
	})
	h.wantError("POST", "/v1.41/exec/"+ex.ID+"/start", `{"Detach":true}`, 409, "Error: Exec command "+ex.ID+" has already run")
}

// waitExit waits for ref to meet cond through the API and returns its exit
// code.
func waitExit(t *testing.T, h *testHost, ref string, cond container.WaitCondition) int64 {
	t.Helper()
	return waitThrough(t, h, ref, cond, nil)
}

// waitThrough starts waiting for ref to meet cond, does act (a kill, a
// remove; nil: nothing) once the daemon holds the wait, and returns the
// exit code the wait reports.
func waitThrough(t *testing.T, h *testHost, ref string, cond container.WaitCondition, act func()) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w := h.cli.ContainerWait(ctx, ref, client.ContainerWaitOptions{Condition: cond})
	if act != nil {
		time.Sleep(100 * time.Millisecond)
		act()
	}
	select {
	case r := <-w.Result:
		return r.StatusCode
	case err := <-w.Error:
		t.Fatalf("wait %s: %v", ref, err)
	}
	return -1
}

func TestLifecycleAPI(t *testing.T) {
	h := startHostd(t)
	ctx := context.Background()
	cc, err := h.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: "lc1",
		// The command is PID 1 of its PID namespace, which ignores a
		// signal it has no handler for: it handles SIGTERM (a bare sleep
		// would ignore it, as in Docker).
		Config:     &container.Config{Image: "alpine", Cmd: []string{"sh", "-c", "trap 'exit 143' TERM; sleep 100 & wait"}},
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil || !hex64.MatchString(cc.ID) {
		t.Fatalf("create %+v %v", cc, err)
	}
	ins, err := h.cli.ContainerInspect(ctx, cc.ID[:10], client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := ins.Container
	if c.Name != "/lc1" || c.State.Status != "created" || c.Path != "sh" || len(c.Args) != 2 || c.Config.Hostname != cc.ID[:12] || c.HostConfig.NetworkMode != "none" || c.Platform != "linux" {
		t.Fatalf("inspect created: %+v %+v", c, c.State)
	}
	if _, err := h.cli.ContainerStart(ctx, "/lc1", client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	ins, _ = h.cli.ContainerInspect(ctx, "lc1", client.ContainerInspectOptions{})
	c = ins.Container
	ep := c.NetworkSettings.Networks["none"]
	if !c.State.Running || c.State.Pid <= 0 || c.NetworkSettings.SandboxKey != h.pin("lc1") || ep == nil || !hex64.MatchString(ep.EndpointID) || !hex64.MatchString(ep.NetworkID) {
		t.Fatalf("inspect running: %+v %+v", c.State, c.NetworkSettings)
	}
	if _, err := os.Stat(c.HostsPath); err != nil {
		t.Fatalf("hosts file: %v", err)
	}
	// Stop: SIGTERM ends the command (143) once its trap is set (PID 1
	// drops a signal it has no handler for); the network is released.
	waitCaught(t, c.State.Pid, unix.SIGTERM)
	timeout := 5
	if _, err := h.cli.ContainerStop(ctx, "lc1", client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	ins, _ = h.cli.ContainerInspect(ctx, "lc1", client.ContainerInspectOptions{})
	if s := ins.Container.State; s.Status != "exited" || s.ExitCode != 143 || s.Pid != 0 || s.FinishedAt == "0001-01-01T00:00:00Z" {
		t.Fatalf("after stop: %+v", s)
	}
	if _, err := os.Stat(h.pin("lc1")); !os.IsNotExist(err) {
		t.Fatalf("pin after stop: %v", err)
	}
	// not-running returns at once for a stopped container.
	if code := waitExit(t, h, "lc1", container.WaitConditionNotRunning); code != 143 {
		t.Fatalf("wait not-running: %d", code)
	}
	// next-exit waits for the next run to end; kill with SIGKILL: 137.
	if _, err := h.cli.ContainerStart(ctx, "lc1", client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	code := waitThrough(t, h, "lc1", container.WaitConditionNextExit, func() {
		if _, err := h.cli.ContainerKill(ctx, "lc1", client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
			t.Fatal(err)
		}
	})
	if code != 137 {
		t.Fatalf("next-exit after SIGKILL: %d", code)
	}
	// Restart from stopped, then kill with a catchable signal.
	if _, err := h.cli.ContainerRestart(ctx, "lc1", client.ContainerRestartOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	ins, _ = h.cli.ContainerInspect(ctx, "lc1", client.ContainerInspectOptions{})
	waitCaught(t, ins.Container.State.Pid, unix.SIGTERM)
	if _, err := h.cli.ContainerKill(ctx, "lc1", client.ContainerKillOptions{Signal: "TERM"}); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, h, "lc1", container.WaitConditionNotRunning); code != 143 {
		t.Fatalf("after kill TERM: %d", code)
	}
	// A list with filters.
	all, err := h.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("status", "exited")})
	if err != nil || len(all.Items) != 1 || all.Items[0].Names[0] != "/lc1" || !strings.HasPrefix(all.Items[0].Status, "Exited (143) ") {
		t.Fatalf("list exited: %+v %v", all.Items, err)
	}
	if running, _ := h.cli.ContainerList(ctx, client.ContainerListOptions{}); len(running.Items) != 0 {
		t.Fatalf("list running: %+v", running.Items)
	}
	// Remove; "removed" waiters wake up.
	code = waitThrough(t, h, "lc1", container.WaitConditionRemoved, func() {
		if _, err := h.cli.ContainerRemove(ctx, "lc1", client.ContainerRemoveOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	if code != 143 {
		t.Fatalf("removed: %d", code)
	}
	if _, err := os.Stat(ins.Container.LogPath); !os.IsNotExist(err) {
		t.Fatalf("state dir left after rm: %v", err)
	}
	h.wantError("GET", "/v1.41/containers/lc1/json", "", 404, "No such container: lc1")
}

func TestAttachLogsExecAPI(t *testing.T) {
	h := startHostd(t)
	ctx := context.Background()
	// Attach before start, as docker run does.
	cc, err := h.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: "alpine", Cmd: []string{"sh", "-c", "echo 1; echo 2; echo err >&2; echo 3"}, AttachStdout: true, AttachStderr: true},
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		t.Fatal(err)
	}
	att, err := h.cli.ContainerAttach(ctx, cc.ID, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.cli.ContainerStart(ctx, cc.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, att.Reader); err != nil {
		t.Fatal(err)
	}
	att.Close()
	if out.String() != "1\n2\n3\n" || errOut.String() != "err\n" {
		t.Fatalf("attach: %q %q", out.String(), errOut.String())
	}
	waitExit(t, h, cc.ID, container.WaitConditionNotRunning)
	logs := func(o client.ContainerLogsOptions) (string, string) {
		rc, err := h.cli.ContainerLogs(ctx, cc.ID, o)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var a, b bytes.Buffer
		if _, err := stdcopy.StdCopy(&a, &b, rc); err != nil {
			t.Fatal(err)
		}
		return a.String(), b.String()
	}
	if a, b := logs(client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true}); a != "1\n2\n3\n" || b != "err\n" {
		t.Fatalf("logs: %q %q", a, b)
	}
	// Tail counts lines of both streams; their relative order is the
	// order the two pipes were read in, as with Docker.
	if a, b := logs(client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: "2"}); strings.Count(a+b, "\n") != 2 || !strings.HasSuffix(a, "3\n") {
		t.Fatalf("logs --tail 2: %q %q", a, b)
	}
	if a, _ := logs(client.ContainerLogsOptions{ShowStdout: true, Tail: "1"}); a != "3\n" && a != "" {
		t.Fatalf("logs --tail 1: %q", a)
	}
	if a, _ := logs(client.ContainerLogsOptions{ShowStdout: true, Timestamps: true}); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT[\d:.]+Z 1\n`).MatchString(a) {
		t.Fatalf("logs -t: %q", a)
	}
	h.wantError("GET", "/v1.41/containers/"+cc.ID+"/logs", "", 400, "Bad parameters: you must choose at least one stream")

	// Exec with stdin through the hijacked connection; the client's
	// half-close ends cat's input.
	long, err := h.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       "ex",
		Config:     &container.Config{Image: "alpine", Cmd: []string{"sleep", "100"}},
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.cli.ContainerStart(ctx, "ex", client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	ex, err := h.cli.ExecCreate(ctx, "ex", client.ExecCreateOptions{Cmd: []string{"sh", "-c", "cat; echo done >&2; exit 4"}, AttachStdin: true, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	ea, err := h.cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ea.Conn.Write([]byte("via exec stdin\n"))
	ea.CloseWrite()
	out.Reset()
	errOut.Reset()
	if _, err := stdcopy.StdCopy(&out, &errOut, ea.Reader); err != nil {
		t.Fatal(err)
	}
	ea.Close()
	if out.String() != "via exec stdin\n" || errOut.String() != "done\n" {
		t.Fatalf("exec output %q %q", out.String(), errOut.String())
	}
	ei, err := h.cli.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
	if err != nil || ei.Running || ei.ExitCode != 4 || ei.PID <= 0 || ei.ContainerID != long.ID {
		t.Fatalf("exec inspect %+v %v", ei, err)
	}
	// Without the Upgrade headers dockerd answers 200 and streams on the
	// same connection.
	ex2, err := h.cli.ExecCreate(ctx, "ex", client.ExecCreateOptions{Cmd: []string{"echo", "plain"}, AttachStdout: true})
	if err != nil {
		t.Fatal(err)
	}
	status, stream := h.rawExecStart(ex2.ID)
	out.Reset()
	if _, err := stdcopy.StdCopy(&out, io.Discard, bytes.NewReader(stream)); err != nil || status != "HTTP/1.1 200 OK" || out.String() != "plain\n" {
		t.Fatalf("exec without upgrade: %q %q %v", status, out.String(), err)
	}
	// A detached exec dies with its container, as in a PID namespace.
	ex3, err := h.cli.ExecCreate(ctx, "ex", client.ExecCreateOptions{Cmd: []string{"sleep", "100"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.cli.ExecStart(ctx, ex3.ID, client.ExecStartOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	var pid int
	eventually(t, 5*time.Second, func() error {
		i, err := h.cli.ExecInspect(ctx, ex3.ID, client.ExecInspectOptions{})
		if err != nil || !i.Running {
			return fmt.Errorf("detached exec not running: %v", err)
		}
		pid = i.PID
		return nil
	})
	if _, err := h.cli.ContainerKill(ctx, "ex", client.ContainerKillOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() error {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			return fmt.Errorf("exec process %d outlived its container", pid)
		}
		return nil
	})
}

// waitCaught waits until the process has a handler for sig (SigCgt in
// /proc/PID/status): a shell's trap is set.
func waitCaught(t *testing.T, pid int, sig unix.Signal) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return err
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "SigCgt:\t"); ok {
				mask, err := strconv.ParseUint(v, 16, 64)
				if err == nil && mask&(1<<(uint(sig)-1)) != 0 {
					return nil
				}
			}
		}
		return fmt.Errorf("process %d has no handler for %v yet", pid, sig)
	})
}
