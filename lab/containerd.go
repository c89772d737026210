package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nslab/nslab/netns"
)

// A dockerd host's containerd is the lab's, not dockerd's. dockerd 20.10
// left alone starts and supervises a containerd of its own, with a
// configuration it writes itself under its exec root and that no flag of
// dockerd's reaches. In it containerd 1.6's opt plugin keeps its default
// path: it makes the machine's /opt/containerd/bin and lib (0711) and puts
// them first on the PATH and LD_LIBRARY_PATH of every shim and runc it
// starts, so whatever the machine has there would run in the lab. So the
// lab starts containerd itself in the host's namespaces, with the
// configuration dockerd would write and the opt plugin disabled, and gives
// dockerd its socket (--containerd). Its sockets and state are where
// dockerd keeps its own containerd's, under the host's exec root (ctr
// --address finds it there as on a Docker 20.10 machine), its root in the
// data root; down kills it with everything else in the host's namespaces.

// containerdExecDir is where dockerd keeps its containerd's sockets and
// state, under its exec root in the host's own /run.
const containerdExecDir = hostExecRoot + "/containerd"

// containerdSocket is the containerd's API socket, dockerd's --containerd.
const containerdSocket = containerdExecDir + "/containerd.sock"

// containerdTimeout bounds how long containerd may take to listen.
const containerdTimeout = 30 * time.Second

func (s dockerdSpec) containerdConfigFile() string { return filepath.Join(s.Dir, "containerd.toml") }
func (s dockerdSpec) containerdLog() string        { return filepath.Join(s.Dir, "containerd.log") }
func (s dockerdSpec) containerdPIDFile() string    { return filepath.Join(s.Dir, "containerd.pid") }

// ContainerdDirs say where a dockerd's containerd keeps its data (Root,
// and RuncRoot for runc), its state (State, under dockerd's exec root) and
// its API socket (dockerd's --containerd).
type ContainerdDirs struct {
	Root, State, Socket, RuncRoot string
}

// ContainerdConfig is the configuration dockerd 20.10 writes for the
// containerd it supervises (the CRI plugin off, the v1 runtime's shim and
// runc), with the opt plugin off too: for a containerd started beside a
// dockerd that gets its socket, so that nothing of it is written to the
// machine's /opt/containerd. One more line sets the garbage collector's
// pace (idleGC).
func ContainerdConfig(d ContainerdDirs) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "version = 2\nroot = %q\nstate = %q\n", d.Root, d.State)
	b.WriteString("disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.internal.v1.opt\"]\n")
	fmt.Fprintf(&b, "\n[grpc]\n  address = %q\n", d.Socket)
	fmt.Fprintf(&b, "\n[debug]\n  address = %q\n  level = \"info\"\n", filepath.Join(filepath.Dir(d.Socket), "containerd-debug.sock"))
	fmt.Fprintf(&b, "\n[plugins.\"io.containerd.runtime.v1.linux\"]\n  shim = \"containerd-shim\"\n  runtime = \"runc\"\n  runtime_root = %q\n", d.RuncRoot)
	b.WriteString(idleGC)
	return b.Bytes()
}

// idleGC keeps an idle containerd from waking 200 times a second.
// containerd 1.6's garbage-collection scheduler sets the interval between
// its checks to the mean collection's time divided by pause_threshold
// (0.02 by default): with collections of about 0.1 ms, as a lab's small
// metadata database has, it checks every 5 ms forever, and each check
// arms a timer. An idle containerd so took 1.9 % of a CPU here, 2.5 %
// under load, and a test run keeps dozens of them idle in its pooled
// labs (2026-12-06: 53 at once, together 1.2 of the machine's 2 CPUs). A
// pause_threshold of 0 keeps the interval at its initial second. What
// the checks collect (content and snapshots, which Docker 20.10 keeps
// in its own graph driver, not in containerd) is collected within that
// second instead.
const idleGC = "\n[plugins.\"io.containerd.gc.v1.scheduler\"]\n  pause_threshold = 0.0\n"

// containerdConfig is the host's containerd configuration: its root in
// the dockerd's data root, state and sockets under its exec root.
func (s dockerdSpec) containerdConfig() []byte {
	head := fmt.Sprintf("# nslab: the containerd of host %s's dockerd (dockerd --containerd %s)\n", s.Host, containerdSocket)
	return append([]byte(head), ContainerdConfig(ContainerdDirs{
		Root:     filepath.Join(s.dataRoot(), "containerd", "daemon"),
		State:    containerdExecDir + "/daemon",
		Socket:   containerdSocket,
		RuncRoot: filepath.Join(s.dataRoot(), "runc"),
	})...)
}

// startContainerd starts the host's containerd for its dockerd, with the
// environment dockerd gets, and waits until it listens. A containerd the
// host already runs (a dockerd started again on a running host) is kept.
func (h *Host) startContainerd(dockerd string, s dockerdSpec) error {
	if h.containerdRuns(s) {
		return nil
	}
	bin, err := dockerdHelper(dockerd, "containerd")
	if err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	if err := os.WriteFile(s.containerdConfigFile(), s.containerdConfig(), 0o644); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	pid, exited, err := h.startDockerdProgram(dockerd, bin, []string{"--config", s.containerdConfigFile()}, s.containerdLog())
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.containerdPIDFile(), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	return h.waitContainerd(pid, exited, s.containerdLog())
}

// startDockerdProgram starts bin (dockerd, or its containerd) with args
// inside the host's namespaces (hostns.go: its hostname, /run, /sys and
// resolv.conf are the host's), with dockerd's environment and in a
// session of its own, its output appended to log. exited is closed once
// it has exited.
func (h *Host) startDockerdProgram(dockerd, bin string, args []string, log string) (pid int, exited chan struct{}, err error) {
	logf, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return 0, nil, fmt.Errorf("host %s: %w", h.Name, err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = "/"
	cmd.Env = dockerdEnv(dockerd, h.dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := h.Namespaces().Start(cmd); err != nil {
		return 0, nil, fmt.Errorf("host %s: start %s: %w", h.Name, filepath.Base(bin), err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	return cmd.Process.Pid, done, nil
}

// containerdRuns says whether the containerd named by the host's pid file
// still runs in the host.
func (h *Host) containerdRuns(s dockerdSpec) bool {
	b, err := os.ReadFile(s.containerdPIDFile())
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return false
	}
	ino, err := netns.Inode(h.NetNS())
	if err != nil {
		return false
	}
	comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	_, in := inside(pid, map[uint64]string{ino: h.NetNS()})
	return in && strings.TrimSpace(string(comm)) == "containerd"
}

// waitContainerd polls until containerd (pid) listens on its socket, it
// exits or containerdTimeout passes; the error quotes its log.
func (h *Host) waitContainerd(pid int, exited <-chan struct{}, log string) error {
	deadline := time.NewTimer(containerdTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := listeningUnix(pid, containerdSocket)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("host %s: containerd exited before listening on %s; last lines of %s:\n%s", h.Name, containerdSocket, log, Tail(log, 20))
		case <-deadline.C:
			return fmt.Errorf("host %s: containerd did not listen on %s in time (%v); last lines of %s:\n%s", h.Name, containerdSocket, err, log, Tail(log, 20))
		case <-tick.C:
		}
	}
}

// listeningUnix says whether the network namespace of process pid has a
// unix socket listening at path, from /proc/<pid>/net/unix: a path in the
// process's own mount namespace, which the machine may not see.
func listeningUnix(pid int, path string) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/unix", pid))
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		// Num RefCount Protocol Flags Type St Inode Path; the flag
		// __SO_ACCEPTCON (00010000) marks a listening socket.
		fs := strings.Fields(line)
		if len(fs) == 8 && fs[3] == "00010000" && fs[7] == path {
			return nil
		}
	}
	return fmt.Errorf("nothing listens on %s", path)
}

// dockerdHelper finds one of dockerd's helper programs (containerd, runc,
// docker-proxy) where dockerd finds it: on the PATH of dockerdEnv, which
// starts with dockerd's own directory.
func dockerdHelper(dockerd, name string) (string, error) {
	var dirs []string
	for _, kv := range dockerdEnv(dockerd, "") {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			dirs = filepath.SplitList(v)
		}
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("dockerd's %s not found in %s", name, strings.Join(dirs, ":"))
}
