package hostd_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/moby/moby/client"

	"github.com/nslab/nslab/etcdmember/etcdtest"
	"github.com/nslab/nslab/hostd/image/imagetest"
	"github.com/nslab/nslab/hostd/rootfs/launch"
	"github.com/nslab/nslab/hostdconfig"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/nstest"
)

// hostdBin is cmd/nslab-hostd, built once per run (hostdProgram: make
// build's under make test).
var hostdBin string

var hostdProgram = nstest.Programs{Packages: []string{"github.com/nslab/nslab/cmd/nslab-hostd"}, DirPattern: "hostd-test-bin-"}

const dockerCLI = "/usr/local/bin/docker"

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() != 0 {
			return m.Run() // every daemon test skips with its reason
		}
		defer etcdtest.Cleanup()
		if os.Getenv("HOSTD_RACE") != "" {
			// HOSTD_RACE=1 builds the daemon with the race detector.
			hostdProgram.Flags = []string{"-race"}
		}
		defer hostdProgram.Cleanup()
		var err error
		if hostdBin, err = hostdProgram.Lookup("nslab-hostd"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// The tests' own image store, which every hostd of the run shares
		// as the machine's: the default image is unpacked once.
		return imagetest.Run(m)
	}()
	os.Exit(code)
}

// testHost is one virtual host: a fresh network namespace with a real
// hostd process in it, started as the lab starts it.
type testHost struct {
	t      testing.TB
	cfg    hostdconfig.Config
	nsPath string
	cmd    *exec.Cmd
	done   chan error
	waited bool
	cli    *client.Client
	http   *http.Client
	cliDir string
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func startHostd(t testing.TB) *testHost {
	t.Helper()
	return startHostdWith(t, nil)
}

// startHostdWith starts hostd with its configuration changed by edit.
func startHostdWith(t testing.TB, edit func(*hostdconfig.Config)) *testHost {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: hostd makes network namespaces and mounts")
	}
	lab := "ht" + randHex(3)
	root := t.TempDir()
	h := &testHost{t: t, cliDir: t.TempDir(), done: make(chan error, 1)}
	h.cfg = hostdconfig.Config{Lab: lab, Host: "h1", Root: root, DataRoot: filepath.Join(root, "data"), Socket: filepath.Join(root, "docker.sock"), NetNSPrefix: lab + "-h1-"}
	if edit != nil {
		edit(&h.cfg)
	}
	var err error
	if h.nsPath, err = netns.NewNamed(lab + "-h1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.stop)
	cfgPath := filepath.Join(root, "hostd.json")
	if err := h.cfg.Write(cfgPath); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(root, "hostd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	h.cmd = exec.Command(hostdBin, "--config", cfgPath)
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS, Setsid: true}
	if err := netns.StartIn(h.nsPath, h.cmd); err != nil {
		t.Fatal(err)
	}
	go func() { h.done <- h.cmd.Wait() }()
	h.http = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", h.cfg.Socket)
		},
	}}
	h.cli, err = client.New(client.WithHost("unix://" + h.cfg.Socket))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := h.http.Get("http://hostd/_ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-h.done:
			h.waited = true
			t.Fatalf("hostd exited at start: %v\n%s", err, h.logTail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hostd did not answer /_ping: %v\n%s", err, h.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if way := os.Getenv(launch.WayEnv); way == "init" && !strings.Contains(h.logTail(), "containers start "+launch.FromInit.String()) {
		t.Fatalf("%s=%s: hostd does not say it starts containers %v\n%s", launch.WayEnv, way, launch.FromInit, h.logTail())
	}
	return h
}

// eachStart runs fn as a subtest for each way hostd starts containers:
// the way the kernel allows, and forced to the init process (hostd, the
// test's child, reads launch.WayEnv from its environment).
func eachStart(t *testing.T, fn func(t *testing.T)) {
	t.Run("detected", fn)
	t.Run("init", func(t *testing.T) {
		t.Setenv(launch.WayEnv, "init")
		fn(t)
	})
}

func (h *testHost) logTail() string {
	b, _ := os.ReadFile(filepath.Join(h.cfg.Root, "hostd.log"))
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// terminate sends SIGTERM and waits; hostd must exit 0 in a few seconds.
func (h *testHost) terminate() error {
	if h.waited {
		return nil
	}
	h.waited = true
	h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-h.done:
		return err
	case <-time.After(15 * time.Second):
		h.cmd.Process.Kill()
		<-h.done
		return errors.New("hostd still running 15s after SIGTERM")
	}
}

// stop ends hostd and checks that it left nothing in /run/netns or the
// mount table, then removes the host's namespace.
func (h *testHost) stop() {
	t := h.t
	if h.cli != nil {
		h.cli.Close()
	}
	if h.cmd != nil && h.cmd.Process != nil {
		if err := h.terminate(); err != nil {
			t.Errorf("hostd exit: %v", err)
		}
	}
	if left := h.leftovers(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
		for _, p := range left {
			if strings.HasPrefix(p, netns.RunDir) {
				netns.Delete(p)
			}
		}
	}
	if h.nsPath != "" {
		if err := netns.Delete(h.nsPath); err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		t.Logf("hostd.log:\n%s", h.logTail())
	}
}

// leftovers lists the container pins and the mounts carrying the host's
// container prefix.
func (h *testHost) leftovers() []string {
	var out []string
	entries, _ := os.ReadDir(netns.RunDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), h.cfg.NetNSPrefix) {
			out = append(out, netns.Path(e.Name()))
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		if strings.Contains(l, h.cfg.NetNSPrefix) {
			out = append(out, "mount: "+l)
		}
	}
	return out
}

func (h *testHost) pin(name string) string { return netns.Path(h.cfg.NetNSPrefix + name) }

// dockerEnv points the real docker CLI at this hostd.
func (h *testHost) dockerEnv() []string {
	env := []string{"DOCKER_HOST=unix://" + h.cfg.Socket, "DOCKER_CONFIG=" + h.cliDir, "DOCKER_CLI_HINTS=false"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_") {
			env = append(env, kv)
		}
	}
	return env
}

func needCLI(t *testing.T) {
	if _, err := os.Stat(dockerCLI); err != nil {
		t.Skipf("the docker CLI is not at %s: %v", dockerCLI, err)
	}
}

// docker runs the real docker CLI and returns stdout, stderr, exit code.
func (h *testHost) docker(args ...string) (string, string, int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, dockerCLI, args...)
	cmd.Env = h.dockerEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatalf("docker %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// mustDocker runs the CLI and fails the test unless it exits 0.
func (h *testHost) mustDocker(args ...string) string {
	h.t.Helper()
	out, errs, code := h.docker(args...)
	if code != 0 {
		h.t.Fatalf("docker %s: exit %d: %s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// dockerTTY runs the CLI on a terminal, types each input after a pause,
// and returns everything the terminal showed and the exit code.
func (h *testHost) dockerTTY(inputs []string, args ...string) (string, int) {
	h.t.Helper()
	cmd := exec.Command(dockerCLI, args...)
	cmd.Env = h.dockerEnv()
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		h.t.Fatal(err)
	}
	defer tty.Close()
	var out bytes.Buffer
	read := make(chan struct{})
	go func() { io.Copy(&out, tty); close(read) }()
	for _, in := range inputs {
		// Give the CLI time to put the terminal in raw mode and attach,
		// and the container time to answer the previous input.
		time.Sleep(500 * time.Millisecond)
		tty.WriteString(in)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		h.t.Fatalf("docker %v on a tty: no exit; output %q", args, out.String())
	}
	select {
	case <-read:
	case <-time.After(2 * time.Second):
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		code = ee.ExitCode()
	}
	return out.String(), code
}

// api makes a raw request and returns status, headers and body.
func (h *testHost) api(method, path, body string) (int, http.Header, string) {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://hostd"+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// wantError checks a Docker error answer: status and exact message.
func (h *testHost) wantError(method, path, body string, code int, msg string) {
	h.t.Helper()
	got, _, b := h.api(method, path, body)
	var e struct{ Message string }
	json.Unmarshal([]byte(b), &e)
	if got != code || e.Message != msg {
		h.t.Errorf("%s %s: got %d %q, want %d %q", method, path, got, strings.TrimSpace(b), code, msg)
	}
}

// eventually retries fn until it returns nil or the deadline passes.
func eventually(t testing.TB, d time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rawExecStart starts an exec with a hand-written request without the
// Upgrade headers and returns the status line and the rest of the stream.
func (h *testHost) rawExecStart(id string) (string, []byte) {
	h.t.Helper()
	conn, err := net.Dial("unix", h.cfg.Socket)
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	body := `{"Detach":false,"Tty":false}`
	fmt.Fprintf(conn, "POST /v1.41/exec/%s/start HTTP/1.1\r\nHost: hostd\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", id, len(body), body)
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	status, _ := br.ReadString('\n')
	for {
		l, err := br.ReadString('\n')
		if err != nil || l == "\r\n" {
			break
		}
	}
	rest, _ := io.ReadAll(br)
	return strings.TrimSpace(status), rest
}
