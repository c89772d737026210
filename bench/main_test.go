package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostdconfig"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns"
)

// hostdBin is nslab-hostd as the lab finds it (lab.FindHostd): named by
// $NSLAB_HOSTD_BIN, next to $NSLAB_BIN (make bench puts it next to nslab),
// else built from this module.
var hostdBin string

// prefix marks every namespace the benchmarks make.
var prefix = "nslbench" + randHex(2) + "-"

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() != 0 {
			return m.Run() // every benchmark skips with its reason
		}
		bin, err := lab.FindHostd("")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		hostdBin = bin
		return m.Run()
	}()
	entries, _ := os.ReadDir(netns.RunDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			fmt.Fprintf(os.Stderr, "left behind: %s\n", netns.Path(e.Name()))
			netns.Delete(e.Name())
			code = 1
		}
	}
	os.Exit(code)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// daemon is a Docker Engine API to measure: hostd or a real dockerd, each
// in a network namespace of its own.
type daemon struct {
	name string
	cli  *client.Client
	stop func() error
	// startedIn is the time from hostd's exec until its socket listened.
	startedIn time.Duration
	// cpu is, once stop returned, the CPU time (user + system) hostd and
	// every child it waited for (containers' inits and commands, iptables)
	// spent from its exec to its exit: wait4's rusage counts both.
	cpu time.Duration
}

func needRoot(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: the daemons make network namespaces, bridges and veths")
	}
}

// startHostd runs hostd the way the lab does: in a fresh network
// namespace and a new UTS namespace, in its own session.
func startHostd(b *testing.B) *daemon {
	b.Helper()
	id := randHex(3)
	root, err := os.MkdirTemp(stateBase(), "nslab-bench-hostd-")
	if err != nil {
		b.Fatal(err)
	}
	nsPath, err := netns.NewNamed(prefix + "h" + id)
	if err != nil {
		os.RemoveAll(root)
		b.Fatal(err)
	}
	cfg := hostdconfig.Config{Lab: "bn" + id, Host: "h1", Root: root, Socket: filepath.Join(root, "docker.sock"), NetNSPrefix: prefix + "h" + id + "-"}
	cleanup := func() { netns.Delete(nsPath); os.RemoveAll(root) }
	cfgPath := filepath.Join(root, "hostd.json")
	if err := cfg.Write(cfgPath); err != nil {
		cleanup()
		b.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(root, "hostd.log"))
	if err != nil {
		cleanup()
		b.Fatal(err)
	}
	defer logf.Close()
	ready, readyW, err := os.Pipe()
	if err != nil {
		cleanup()
		b.Fatal(err)
	}
	defer ready.Close()
	cmd := exec.Command(hostdBin, "--config", cfgPath, "--ready-fd", "3")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS, Setsid: true}
	t0 := time.Now()
	err = netns.StartIn(nsPath, cmd)
	readyW.Close()
	if err != nil {
		cleanup()
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	d := &daemon{name: "hostd"}
	d.stop = func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		var err error
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			err = fmt.Errorf("hostd still running 30s after SIGTERM")
		}
		d.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(root, "hostd.log"))
			err = fmt.Errorf("hostd: %w\n%s", err, tail(log))
		}
		if keep := os.Getenv("NSLAB_BENCH_LOGS"); keep != "" {
			// NSLAB_BENCH_LOGS=DIR keeps hostd's request log (with each
			// request's duration) for a look at where the time goes.
			if log, err := os.ReadFile(filepath.Join(root, "hostd.log")); err == nil {
				os.WriteFile(filepath.Join(keep, "hostd-"+id+".log"), log, 0o644)
			}
		}
		cleanup()
		return err
	}
	if err := waitReady(ready, 10*time.Second); err != nil {
		d.stop()
		b.Fatal(err)
	}
	d.startedIn = time.Since(t0)
	if d.cli, err = newClient(cfg.Socket); err != nil {
		d.stop()
		b.Fatal(err)
	}
	return d
}

// stateBase is where hostd's state directory goes: $NSLAB_BENCH_ROOT, else
// /dev/shm when it is a tmpfs, as /run (the lab's state root) is on most
// machines: container files are written on every start, and a disk-backed
// filesystem shared with fsync-heavy neighbours makes each of them cost
// milliseconds that say nothing about hostd.
func stateBase() string {
	if dir := os.Getenv("NSLAB_BENCH_ROOT"); dir != "" {
		return dir
	}
	var st unix.Statfs_t
	if unix.Statfs("/dev/shm", &st) == nil && st.Type == unix.TMPFS_MAGIC {
		return "/dev/shm"
	}
	return os.TempDir()
}

func newClient(socket string) (*client.Client, error) {
	return client.New(client.WithHost("unix://" + socket))
}

// waitReady waits for the "ready" line hostd writes on its --ready-fd pipe
// once its socket listens; an exit closes the pipe first.
func waitReady(r *os.File, timeout time.Duration) error {
	r.SetReadDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(r).ReadString('\n')
	if line != "ready\n" {
		return fmt.Errorf("hostd did not say it listens (%q, %v)", line, err)
	}
	return nil
}

// waitPing waits until /_ping on the socket answers, or the process
// exits, or the timeout passes.
func waitPing(socket string, exited <-chan error, timeout time.Duration) error {
	c, err := newClient(socket)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Ping(ctx, client.PingOptions{})
		cancel()
		if err == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("daemon on %s exited at start: %v", socket, err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer on %s within %v: %v", socket, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
