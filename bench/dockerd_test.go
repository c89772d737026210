package bench

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// dockerdPath finds Debian's dockerd (docker.io 20.10), or "".
func dockerdPath() string {
	for _, p := range []string{"/usr/bin/dockerd", "/usr/sbin/dockerd"} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	if p, err := exec.LookPath("dockerd"); err == nil {
		return p
	}
	return ""
}

// startContainerd starts the containerd for the benchmark's dockerd with
// the lab's configuration of a dockerd host's (lab.ContainerdConfig: the
// opt plugin off, so that nothing is written to /opt/containerd). It returns the
// socket, once containerd listens there; killUnder(dir) ends it.
func startContainerd(dockerd, dir, nsPath, data, execRoot string) (string, error) {
	bin := filepath.Join(filepath.Dir(dockerd), "containerd")
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("containerd"); err != nil {
			return "", fmt.Errorf("dockerd's containerd: %w", err)
		}
	}
	sock := filepath.Join(execRoot, "containerd", "containerd.sock")
	conf := filepath.Join(dir, "containerd.toml")
	cfg := lab.ContainerdConfig(lab.ContainerdDirs{
		Root:     filepath.Join(data, "containerd", "daemon"),
		State:    filepath.Join(execRoot, "containerd", "daemon"),
		Socket:   sock,
		RuncRoot: filepath.Join(data, "runc"),
	})
	if err := os.WriteFile(conf, cfg, 0o644); err != nil {
		return "", err
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		return "", err
	}
	defer logf.Close()
	cmd := exec.Command("nsenter", "--net="+nsPath, bin, "--config", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "TMPDIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	go cmd.Wait()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return sock, nil
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
	return "", fmt.Errorf("containerd does not listen on %s after 20s:\n%s", sock, log)
}

// machinePaths are what dockerd creates outside its --data-root and
// --exec-root: its key, its plugin directory, its cgroups. Those that did
// not exist before it started are removed after it stopped.
func machinePaths() []string {
	paths := []string{"/etc/docker/key.json", "/etc/docker", "/run/docker/plugins", "/run/docker"}
	cgroups, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, c := range cgroups {
		paths = append(paths, filepath.Join(c, "docker"))
	}
	return paths
}

// startDockerd runs a real dockerd as fixtures/docker-20.10/README.md says:
// in a throwaway network namespace entered with nsenter (not ip netns exec,
// which remounts /sys), its own UTS namespace, its own data and exec roots,
// vfs storage; then builds alpine:latest locally from busybox-static with
// the classic builder. Its stop removes every container, stops dockerd and
// everything it started, unmounts what it mounted, and removes its
// directories, its namespace and what it made on the machine.
func startDockerd(b *testing.B, path string) *daemon {
	b.Helper()
	existed := map[string]bool{}
	for _, p := range machinePaths() {
		if _, err := os.Lstat(p); err == nil {
			existed[p] = true
		}
	}
	dir, err := os.MkdirTemp("", "nslab-refdocker-")
	if err != nil {
		b.Fatal(err)
	}
	nsPath, err := netns.NewNamed(prefix + "dockerd")
	if err != nil {
		os.RemoveAll(dir)
		b.Fatal(err)
	}
	data, execRoot := filepath.Join(dir, "data"), filepath.Join(dir, "exec")
	socket, pidfile := filepath.Join(dir, "docker.sock"), filepath.Join(dir, "docker.pid")
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		netns.Delete(nsPath)
		os.RemoveAll(dir)
		b.Fatal(err)
	}
	ctrdSock, err := startContainerd(path, dir, nsPath, data, execRoot)
	if err != nil {
		logf.Close()
		killUnder(dir)
		netns.Delete(nsPath)
		os.RemoveAll(dir)
		b.Fatal(err)
	}
	cmd := exec.Command("nsenter", "--net="+nsPath, "unshare", "-u", path,
		"--data-root", data, "--exec-root", execRoot, "--pidfile", pidfile,
		"-H", "unix://"+socket, "--storage-driver", "vfs", "--containerd", ctrdSock)
	cmd.Stdout, cmd.Stderr = logf, logf
	// containerd, started before dockerd sets TMPDIR for itself, dumps its
	// stacks into TMPDIR when dockerd restarts it: into dir, not /tmp.
	cmd.Env = append(os.Environ(), "TMPDIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		netns.Delete(nsPath)
		os.RemoveAll(dir)
		b.Fatal(err)
	}
	logf.Close()
	// nsenter and unshare exec in place: the pid is dockerd's.
	pid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	d := &daemon{name: "dockerd"}
	d.stop = func() error {
		var errs []error
		if d.cli != nil {
			errs = append(errs, removeAll(d.cli))
			d.cli.Close()
		}
		syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			syscall.Kill(pid, syscall.SIGKILL)
			<-done
			errs = append(errs, errors.New("dockerd still running 30s after SIGTERM"))
		}
		// containerd and its shims are dockerd's children; they go with
		// it, and whatever is left that names our roots is ours to end.
		errs = append(errs, killUnder(dir))
		errs = append(errs, lab.UnmountUnder(dir+"/"))
		errs = append(errs, netns.Delete(nsPath))
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
		for _, p := range machinePaths() {
			if !existed[p] {
				// Only if empty (a directory) or ours (key.json).
				if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
					errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
				}
			}
		}
		return errors.Join(errs...)
	}
	if err := waitPing(socket, done, 60*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
		d.stop()
		b.Fatalf("%v\n%s", err, tail(log))
	}
	if d.cli, err = newClient(socket); err != nil {
		d.stop()
		b.Fatal(err)
	}
	if err := buildAlpine(d.cli); err != nil {
		d.stop()
		b.Fatal(err)
	}
	return d
}

// buildAlpine builds the image the exercises run as alpine: busybox-static
// on scratch with its applets installed, never pulled.
func buildAlpine(cli *client.Client) error {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return fmt.Errorf("busybox-static: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dockerfile := "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\",\"--install\",\"-s\",\"/bin\"]\nCMD [\"/bin/sh\"]\n"
	for _, f := range []struct {
		name string
		mode int64
		body []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"busybox", 0o755, bb}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body))})
		tw.Write(f.body)
	}
	tw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := cli.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{"alpine:latest"}, Remove: true, Version: build.BuilderV1})
	if err != nil {
		return fmt.Errorf("build alpine: %w", err)
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("build alpine: %w", err)
		}
		if m.Error != "" {
			return fmt.Errorf("build alpine: %s", m.Error)
		}
	}
}

// killUnder SIGKILLs every process whose command line names dir (dockerd's
// containerd and shims carry its roots in their arguments) and waits for
// them to go.
func killUnder(dir string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := processesNaming(dir)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes of %s still running: %v", dir, pids)
		}
		for _, pid := range pids {
			unix.Kill(pid, unix.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func processesNaming(dir string) []int {
	all, _ := kernel.Processes()
	var pids []int
	for _, pid := range all {
		if pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && bytes.Contains(cmdline, []byte(dir)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// removeAll force-removes every container of a daemon, eight at a time:
// a removal mostly waits for the kernel to free a veth pair.
func removeAll(cli *client.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return err
	}
	ids := make(chan string)
	errc := make(chan error, len(list.Items))
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				_, err := cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
				errc <- err
			}
		}()
	}
	for _, c := range list.Items {
		ids <- c.ID
	}
	close(ids)
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
