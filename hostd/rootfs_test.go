package hostd_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/hostd/rootfs/rootfstest"
	"github.com/nslab/nslab/internal/rootns"
)

// The container's own root filesystem, as issue 11's "done when" says it,
// at hostd's level: a marker directory of the test's own on the machine,
// and a container that touches /root/f and /f, removes the marker's path,
// lists / and prints its PID 1's command line.
func TestContainerRootFilesystem(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	marker := rootfstest.Marker(t)
	name := filepath.Base(marker)
	script := fmt.Sprintf("touch /root/%[1]s /%[1]s; rm -rf %[2]s; ls /; echo; cat /proc/1/cmdline; echo; ls /run/nslab 2>&1; ls %[2]s 2>&1; true", name, marker)
	h.mustDocker("create", "--name", "c1", "--network", "none", "alpine", "sh", "-c", script+"; echo >> /etc/passwd; rm /bin/ls; touch /bin/new")
	lower := strings.Split(strings.TrimSpace(h.mustDocker("inspect", "-f", `{{index .GraphDriver.Data "LowerDir"}}`, "c1")), ":")
	before := treeSums(t, lower)
	h.mustDocker("start", "-a", "c1")
	out := h.mustDocker("logs", "c1")
	// The container changed its /etc/passwd and /bin: the image's layers
	// (its lower directories) are as they were.
	if after := treeSums(t, lower); !slices.Equal(before, after) {
		t.Errorf("the container's writes changed its image's layers %v", lower)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the machine's marker %s: %v", marker, err)
	}
	for _, p := range []string{"/root/" + name, "/" + name} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("the container's write reached the machine: %s: %v", p, err)
		}
	}
	ls := strings.Fields(strings.SplitN(out, "\n\n", 2)[0])
	for _, want := range []string{"bin", "dev", "etc", "proc", "root", "sys", "tmp", name} {
		if !slices.Contains(ls, want) {
			t.Errorf("ls / in the container lacks %s: %q", want, ls)
		}
	}
	for _, machineOnly := range []string{"work", "run", "lib64", "boot"} {
		if slices.Contains(ls, machineOnly) {
			t.Errorf("ls / in the container shows the machine's %s: %q", machineOnly, ls)
		}
	}
	if !strings.Contains(out, "sh\x00-c\x00touch /root/") {
		t.Errorf("/proc/1/cmdline is not the container's command: %q", out)
	}
	if !strings.Contains(out, "ls: /run/nslab: No such file or directory") || !strings.Contains(out, "ls: "+marker+": No such file or directory") {
		t.Errorf("the machine's files are visible in the container: %q", out)
	}
	// The writes are in the container's writable layer, which goes with it.
	id := strings.TrimSpace(h.mustDocker("inspect", "-f", "{{.Id}}", "c1"))
	upper := filepath.Join(h.cfg.Root, "data", "containers", id, "upper")
	if _, err := os.Stat(filepath.Join(upper, "root", name)); err != nil {
		t.Errorf("the write is not in the container's upper directory: %v", err)
	}
	h.mustDocker("rm", "c1")
	if _, err := os.Stat(filepath.Dir(upper)); !os.IsNotExist(err) {
		t.Errorf("the writable layer outlived docker rm: %v", err)
	}
}

// Every container is a PID namespace whose PID 1 is its command: ps shows
// only the container's processes, PID 1 ignores a signal it has no
// handler for, and its end ends every process of the container.
func TestPIDNamespace(t *testing.T) { eachStart(t, testPIDNamespace) }

func testPIDNamespace(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	h.mustDocker("run", "-d", "--name", "p1", "--network", "none", "alpine", "sleep", "1000")
	h.mustDocker("exec", "-d", "p1", "sleep", "1003")
	var ps string
	eventually(t, 5*time.Second, func() error {
		ps = h.mustDocker("exec", "p1", "ps", "-o", "pid,args")
		if !strings.Contains(ps, "sleep 1003") {
			return fmt.Errorf("no exec'd sleep in %q", ps)
		}
		return nil
	})
	if !regexp.MustCompile(`(?m)^\s+1 sleep 1000$`).MatchString(ps) || strings.Count(strings.TrimSpace(ps), "\n") != 3 {
		t.Fatalf("ps in the container: %q", ps)
	}
	// No descriptor of hostd's (or of whoever started it) reaches the
	// container: PID 1 has its stdio only.
	if fds := h.mustDocker("exec", "p1", "ls", "/proc/1/fd"); strings.Join(strings.Fields(fds), " ") != "0 1 2" {
		t.Errorf("PID 1's descriptors: %q", fds)
	}
	if top := h.mustDocker("top", "p1"); strings.Count(strings.TrimSpace(top), "\n") != 2 || !strings.Contains(top, "sleep 1000") || !strings.Contains(top, "sleep 1003") {
		t.Fatalf("docker top: %q", top)
	}
	pid := strings.TrimSpace(h.mustDocker("inspect", "-f", "{{.State.Pid}}", "p1"))
	// sleep, PID 1, has no handler for SIGTERM and ignores it, as with
	// Docker: stop waits its timeout and then kills (137).
	start := time.Now()
	h.mustDocker("stop", "-t", "1", "p1")
	if took := time.Since(start); took < time.Second {
		t.Errorf("stop took %v: SIGTERM ended PID 1", took)
	}
	if code := strings.TrimSpace(h.mustDocker("inspect", "-f", "{{.State.ExitCode}}", "p1")); code != "137" {
		t.Errorf("exit code after stop: %s", code)
	}
	if _, err := os.Stat("/proc/" + pid); !os.IsNotExist(err) {
		t.Errorf("the container's PID 1 (%s) outlived the stop: %v", pid, err)
	}
	for _, p := range pidsNamed("sleep 1003") {
		t.Errorf("the exec'd sleep (pid %d) outlived its container's PID 1", p)
	}
}

// treeSums lists every entry of the trees (rootns.TreeEntries: path, mode,
// size, mtime, link).
func treeSums(t *testing.T, roots []string) []string {
	t.Helper()
	var out []string
	for _, root := range roots {
		entries, err := rootns.TreeEntries(root)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entries...)
	}
	if len(out) < 10 {
		t.Fatalf("the layers %v hold %d entries", roots, len(out))
	}
	return out
}

// pidsNamed lists the machine's processes whose command line is args.
func pidsNamed(args string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ") == args {
			out = append(out, pid)
		}
	}
	return out
}

// /dev, /proc and /sys as Docker mounts them, and nothing of the machine's
// that a root in the container could change.
func TestDevProcSys(t *testing.T) { eachStart(t, testDevProcSys) }

func testDevProcSys(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	if out := h.mustDocker("run", "--rm", "--network", "none", "alpine", "ls", "/dev"); strings.Join(strings.Fields(out), " ") != "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero" {
		t.Errorf("ls /dev: %q", out)
	}
	// With a terminal: /dev/console, the terminal, in the container's own
	// devpts.
	out, code := h.dockerTTY(nil, "run", "-t", "--rm", "--network", "none", "alpine", "sh", "-c", "tty; ls /dev/console; ls /dev/pts")
	if code != 0 || !regexp.MustCompile(`^/dev/pts/0\r+\n/dev/console\r+\n0 +ptmx\r+\n$`).MatchString(out) {
		t.Errorf("run -t tty: %d %q", code, out)
	}
	script := strings.Join([]string{
		"touch /sys/x 2>&1",
		"(echo 1 > /proc/sys/net/ipv4/ip_forward) 2>/dev/null || echo procsys-ro",
		"(echo c > /proc/sysrq-trigger) 2>/dev/null || echo sysrq-ro",
		"wc -c < /proc/keys",
		"mknod /tmp/null c 1 3 && (echo x > /tmp/null) 2>/dev/null || echo nodev",
		"chmod 600 /dev/null 2>&1 || echo devnull-ro",
		"echo ok > /dev/null && echo devnull-writable",
		"grep CapEff /proc/self/status",
		"cat /proc/self/mountinfo",
	}, "; ")
	out = h.mustDocker("run", "--rm", "--network", "none", "alpine", "sh", "-c", script)
	for _, want := range []string{
		"touch: /sys/x: Read-only file system", "procsys-ro", "sysrq-ro", "\n0\n", "nodev",
		"devnull-ro", "devnull-writable", "CapEff:\t00000000a80425fb",
		" /proc rw,nosuid,nodev,noexec", " /dev rw,nosuid,nodev", " - devpts devpts rw,gid=5,mode=620,ptmxmode=666",
		" /sys ro,nosuid,nodev,noexec", " /dev/mqueue rw,nosuid,nodev,noexec", " /dev/shm rw,nosuid,nodev,noexec",
		" /etc/hosts rw,", " / rw,nodev,", "- overlay overlay",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the container's /proc, /dev, /sys: no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "/run/netns") || strings.Contains(out, " - nsfs ") || strings.Contains(out, "shared:") {
		t.Errorf("the machine's mounts reach the container:\n%s", out)
	}
	// The machine's /dev/null is as it was.
	if fi, err := os.Stat("/dev/null"); err != nil || fi.Mode().Perm() != 0o666 {
		t.Errorf("the machine's /dev/null: %v %v", fi.Mode(), err)
	}
	// Privileged: /sys writable, every capability hostd has.
	status, _ := os.ReadFile("/proc/self/status")
	bnd := regexp.MustCompile(`CapBnd:\t([0-9a-f]+)`).FindSubmatch(status)
	out = h.mustDocker("run", "--rm", "--privileged", "--network", "none", "alpine", "sh", "-c", "grep CapEff /proc/self/status; grep ' /sys ' /proc/self/mountinfo")
	if bnd == nil || !strings.Contains(out, "CapEff:\t"+string(bnd[1])) || !strings.Contains(out, " /sys rw,") {
		t.Errorf("privileged: %q", out)
	}
}

// -v and --mount binds, read-write and read-only, and Docker's refusals.
func TestBindMounts(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "in"), []byte("from the machine\n"), 0o644)
	missing := filepath.Join(dir, "missing", "sub")
	out := h.mustDocker("run", "--rm", "--network", "none", "-v", dir+":/data", "-v", dir+":/ro:ro", "-v", missing+":/m",
		"alpine", "sh", "-c", "cat /data/in; echo out > /data/out; (echo x > /ro/x) 2>&1; ls -d /m")
	if !strings.Contains(out, "from the machine") || !strings.Contains(out, "can't create /ro/x: Read-only file system") || !strings.Contains(out, "/m\n") {
		t.Errorf("binds: %q", out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "out\n" {
		t.Errorf("a write to a -v bind did not reach the machine: %q", b)
	}
	if fi, err := os.Stat(missing); err != nil || !fi.IsDir() {
		t.Errorf("a missing -v source is made as Docker makes it: %v", err)
	}
	ins := h.mustDocker("create", "--network", "none", "-v", dir+":/data:ro", "alpine")
	if mounts := h.mustDocker("inspect", "-f", "{{json .Mounts}}", strings.TrimSpace(ins)); !strings.Contains(mounts, `{"Type":"bind","Source":"`+dir+`","Destination":"/data","Mode":"ro","RW":false,"Propagation":"rprivate"}`) {
		t.Errorf("inspect's Mounts: %s", mounts)
	}
	// Docker's refusals, word for word (observed on dockerd 20.10.24).
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mount", "type=bind,source=" + filepath.Join(dir, "nope") + ",target=/data"}, `invalid mount config for type "bind": bind source path does not exist: ` + filepath.Join(dir, "nope")},
		{[]string{"-v", "/tmp:/"}, `invalid volume specification: '/tmp:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`},
		{[]string{"-v", "/tmp:data"}, `invalid volume specification: '/tmp:data': invalid mount config for type "bind": invalid mount path: 'data' mount path must be absolute`},
		{[]string{"-v", "/tmp:/data:xx"}, `invalid mode: xx`},
		{[]string{"-v", "a:b:c:d"}, `invalid volume specification: 'a:b:c:d'`},
		{[]string{"-v", "/tmp:/data", "-v", "/var:/data"}, `Duplicate mount point: /data`},
		{[]string{"-v", "a$b:/data"}, `create a$b: "a$b" includes invalid characters for a local volume name`},
		{[]string{"-v", "/tmp:/data:rshared"}, `bind propagation "rshared" is not supported by nslab's hostd`},
	} {
		_, errs, code := h.docker(append(append([]string{"create", "--network", "none"}, tc.args...), "alpine")...)
		if code != 1 || !strings.Contains(errs, "Error response from daemon: "+tc.want) {
			t.Errorf("%v: %d %q, want %q", tc.args, code, errs, tc.want)
		}
	}
	if ps := h.mustDocker("ps", "-aq"); strings.Count(ps, "\n") != 1 {
		t.Errorf("a refused create left a container: %q", ps)
	}
}

// Named and anonymous volumes: a file goes in with one container and out
// with another; an empty volume gets the image's files at its mount
// point; the volume API answers as Docker's.
func TestVolumes(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	h.mustDocker("run", "--rm", "--network", "none", "-v", "vol1:/data", "alpine", "sh", "-c", "echo carried > /data/f")
	if out := h.mustDocker("run", "--rm", "--network", "none", "-v", "vol1:/in", "alpine", "cat", "/in/f"); out != "carried\n" {
		t.Errorf("a named volume did not carry the file: %q", out)
	}
	var v []map[string]any
	if err := json.Unmarshal([]byte(h.mustDocker("volume", "inspect", "vol1")), &v); err != nil || len(v) != 1 {
		t.Fatalf("volume inspect: %v %v", v, err)
	}
	mp, _ := v[0]["Mountpoint"].(string)
	if v[0]["Driver"] != "local" || v[0]["Scope"] != "local" || v[0]["Labels"] != nil || mp != filepath.Join(h.cfg.Root, "data", "volumes", "vol1", "_data") {
		t.Errorf("volume inspect: %v", v)
	}
	if b, err := os.ReadFile(filepath.Join(mp, "f")); err != nil || string(b) != "carried\n" {
		t.Errorf("the volume's data: %q %v", b, err)
	}
	// The image's /etc fills an empty volume mounted there (not with nocopy).
	if out := h.mustDocker("run", "--rm", "--network", "none", "-v", "etcvol:/etc", "alpine", "ls", "/etc"); !strings.Contains(out, "passwd") {
		t.Errorf("the empty volume was not filled from the image: %q", out)
	}
	if out := h.mustDocker("run", "--rm", "--network", "none", "-v", "nocopy:/etc:nocopy", "alpine", "ls", "/etc"); strings.Contains(out, "passwd") {
		t.Errorf("nocopy filled the volume: %q", out)
	}
	// In use: Docker's 409, naming the container.
	id := strings.TrimSpace(h.mustDocker("run", "-d", "--name", "user", "--network", "none", "-v", "vol1:/data", "alpine", "sleep", "100"))
	if _, errs, code := h.docker("volume", "rm", "vol1"); code == 0 || !strings.Contains(errs, "remove vol1: volume is in use - ["+id+"]") {
		t.Errorf("volume rm in use: %d %q", code, errs)
	}
	// Anonymous volumes: -v /path, removed by rm -v (and --rm).
	h.mustDocker("run", "-d", "--name", "anon", "--network", "none", "-v", "/anon", "alpine", "sleep", "100")
	anon := strings.TrimSpace(h.mustDocker("inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "anon"))
	if len(anon) != 64 {
		t.Fatalf("anonymous volume name %q", anon)
	}
	if ls := h.mustDocker("volume", "ls", "-q", "--filter", "dangling=false"); !strings.Contains(ls, anon) || !strings.Contains(ls, "vol1") || strings.Contains(ls, "etcvol") {
		t.Errorf("volume ls dangling=false: %q", ls)
	}
	h.mustDocker("rm", "-fv", "anon", "user")
	if ls := h.mustDocker("volume", "ls", "-q"); strings.Contains(ls, anon) {
		t.Errorf("rm -v left the anonymous volume: %q", ls)
	}
	h.mustDocker("volume", "create", "--label", "k=v", "labelled")
	if ls := h.mustDocker("volume", "ls", "-q", "--filter", "label=k=v"); strings.TrimSpace(ls) != "labelled" {
		t.Errorf("volume ls --filter label: %q", ls)
	}
	if _, errs, code := h.docker("volume", "create", "-d", "nope", "v2"); code == 0 || !strings.Contains(errs, `create v2: error looking up volume plugin nope: plugin "nope" not found`) {
		t.Errorf("volume create -d nope: %d %q", code, errs)
	}
	if out := h.mustDocker("volume", "prune", "-f"); !strings.Contains(out, "vol1") || !strings.Contains(out, "labelled") {
		t.Errorf("volume prune: %q", out)
	}
	if ls := h.mustDocker("volume", "ls", "-q"); ls != "" {
		t.Errorf("after prune: %q", ls)
	}
}

// --tmpfs, --read-only, -w and -u.
func TestTmpfsReadOnlyUserWorkdir(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	out := h.mustDocker("run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/run:size=1m", "alpine", "sh", "-c",
		"touch /x 2>&1; touch /run/x && echo tmpfs-ok; (echo h >> /etc/hosts) 2>&1; grep ' /run ' /proc/self/mountinfo")
	for _, want := range []string{"touch: /x: Read-only file system", "tmpfs-ok", "can't create /etc/hosts: Read-only file system", " /run rw,nosuid,nodev,noexec", "size=1024k"} {
		if !strings.Contains(out, want) {
			t.Errorf("--read-only --tmpfs: no %q in %q", want, out)
		}
	}
	if _, errs, code := h.docker("run", "--rm", "--network", "none", "--tmpfs", "/run:dev", "alpine", "true"); code != 125 || !strings.Contains(errs, "tmpfs option dev is not supported by nslab's hostd") {
		t.Errorf("--tmpfs dev: %d %q", code, errs)
	}
	if out := h.mustDocker("run", "--rm", "--network", "none", "-w", "/new/dir", "alpine", "sh", "-c", "pwd; stat -c '%u %a' /new/dir"); out != "/new/dir\n0 755\n" {
		t.Errorf("-w: %q", out)
	}
	for _, tc := range []struct{ user, want string }{
		{"nobody", "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n/nonexistent\n"},
		{"1234:5678", "uid=1234 gid=5678 groups=5678\n/\n"},
		{"", "uid=0(root) gid=0(root) groups=0(root)\n/root\n"},
	} {
		out := h.mustDocker("run", "--rm", "--network", "none", "-u", tc.user, "alpine", "sh", "-c", "id; echo $HOME")
		if out != tc.want {
			t.Errorf("-u %q: %q, want %q", tc.user, out, tc.want)
		}
	}
	if _, errs, code := h.docker("run", "--rm", "--network", "none", "-u", "nosuch", "alpine", "id"); code != 125 || !strings.Contains(errs, "Error response from daemon: unable to find user nosuch: no matching entries in passwd file") {
		t.Errorf("-u nosuch: %d %q", code, errs)
	}
	h.mustDocker("run", "-d", "--name", "wu", "--network", "none", "-u", "nobody", "alpine", "sleep", "100")
	if out := h.mustDocker("exec", "wu", "id", "-u"); out != "65534\n" {
		t.Errorf("exec runs as the container's user: %q", out)
	}
	if out := h.mustDocker("exec", "-u", "root", "-w", "/etc", "wu", "sh", "-c", "id -u; pwd"); out != "0\n/etc\n" {
		t.Errorf("exec -u root -w /etc: %q", out)
	}
}

// docker exec without any program of the machine, with Docker's texts and
// exit codes for what cannot run.
func TestExecErrors(t *testing.T) { eachStart(t, testExecErrors) }

func testExecErrors(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	h.mustDocker("run", "-d", "--name", "ex", "--network", "none", "alpine", "sleep", "100")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ex", "nonexistent"}, `OCI runtime exec failed: exec failed: unable to start container process: exec: "nonexistent": executable file not found in $PATH: unknown`},
		{[]string{"ex", "/etc"}, `OCI runtime exec failed: exec failed: unable to start container process: exec: "/etc": permission denied: unknown`},
		{[]string{"-u", "nosuch", "ex", "id"}, "unable to find user nosuch: no matching entries in passwd file"},
		{[]string{"-w", "/nope", "ex", "pwd"}, `OCI runtime exec failed: exec failed: unable to start container process: chdir to cwd ("/nope") set in config.json failed: no such file or directory: unknown`},
	} {
		out, errs, code := h.docker(append([]string{"exec"}, tc.args...)...)
		if code != 126 || !strings.Contains(out+errs, tc.want) {
			t.Errorf("exec %v: %d %q %q, want 126 %q", tc.args, code, out, errs, tc.want)
		}
	}
	// An exec runs where the container's processes run.
	if out := h.mustDocker("exec", "ex", "sh", "-c", "ls /run/nslab 2>&1; cat /proc/1/cmdline"); !strings.Contains(out, "No such file or directory") || !strings.Contains(out, "sleep\x00100") {
		t.Errorf("exec's view: %q", out)
	}
}

// docker cp both ways, running and stopped, docker export, and commit's
// refusal.
func TestCopyAndExport(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "in.txt")
	os.WriteFile(src, []byte("into the container\n"), 0o600)
	h.mustDocker("create", "--name", "cp", "--network", "none", "alpine", "sleep", "100")
	h.mustDocker("cp", src, "cp:/root/")
	h.mustDocker("start", "cp")
	if out := h.mustDocker("exec", "cp", "sh", "-c", "cat /root/in.txt; stat -c '%u:%g %a' /root/in.txt"); out != "into the container\n0:0 600\n" {
		t.Errorf("cp into a created container: %q", out)
	}
	h.mustDocker("exec", "cp", "sh", "-c", "mkdir -p /out/sub && echo back > /out/sub/f && ln -s /etc/passwd /out/link")
	h.mustDocker("cp", "cp:/out", dir)
	if b, err := os.ReadFile(filepath.Join(dir, "out", "sub", "f")); err != nil || string(b) != "back\n" {
		t.Errorf("cp out of a running container: %q %v", b, err)
	}
	// The symlink is copied as a link, never followed on the machine.
	if l, err := os.Readlink(filepath.Join(dir, "out", "link")); err != nil || l != "/etc/passwd" {
		t.Errorf("cp of a symlink: %q %v", l, err)
	}
	// An absolute symlink in the path resolves in the container.
	h.mustDocker("exec", "cp", "ln", "-s", "/etc", "/etclink")
	h.mustDocker("cp", "cp:/etclink/passwd", filepath.Join(dir, "passwd"))
	if b, _ := os.ReadFile(filepath.Join(dir, "passwd")); !strings.Contains(string(b), "nobody:x:65534") || strings.Contains(string(b), "systemd") {
		t.Errorf("cp through a symlink read the machine's file: %q", b)
	}
	h.mustDocker("stop", "-t", "0", "cp")
	h.mustDocker("cp", "cp:/out/sub/f", filepath.Join(dir, "stopped"))
	if b, _ := os.ReadFile(filepath.Join(dir, "stopped")); string(b) != "back\n" {
		t.Errorf("cp out of a stopped container: %q", b)
	}
	if _, errs, code := h.docker("cp", "cp:/nope", dir); code == 0 || !strings.Contains(errs, "Could not find the file /nope in container cp") {
		t.Errorf("cp of a missing path: %d %q", code, errs)
	}
	cmd := exec.Command(dockerCLI, "export", "cp")
	cmd.Env = h.dockerEnv()
	b, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
	}
	for _, want := range []string{".dockerenv", "bin/", "bin/busybox", "etc/passwd", "root/in.txt", "out/sub/f"} {
		if !slices.Contains(names, want) {
			t.Errorf("export lacks %s: %d entries", want, len(names))
		}
	}
	h.mustDocker("run", "-d", "--name", "ro", "--network", "none", "--read-only", "alpine", "sleep", "100")
	if _, errs, code := h.docker("cp", src, "ro:/root/"); code == 0 || !strings.Contains(errs, "container rootfs is marked read-only") {
		t.Errorf("cp into --read-only: %d %q", code, errs)
	}
	if _, errs, code := h.docker("commit", "ro", "x:y"); code == 0 || !strings.Contains(errs, "docker commit is not implemented by nslab's hostd") {
		t.Errorf("commit: %d %q", code, errs)
	}
	h.wantError("POST", "/v1.41/build?t=x", "a build context", 501, "docker build is not implemented by nslab's hostd: build the image with a real Docker, docker save it and docker load it here")
}

// Every create option hostd does not implement is refused by name and
// creates nothing; the zero values clients send by default pass.
func TestUnsupportedOptionsRefused(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	for _, tc := range []struct {
		hostConfig, config string
		want               string
	}{
		{`"Memory": 10485760`, "", "--memory (HostConfig.Memory)"},
		{`"CpuShares": 512`, "", "--cpu-shares (HostConfig.CpuShares)"},
		{`"NanoCpus": 1000000000`, "", "--cpus (HostConfig.NanoCpus)"},
		{`"PidsLimit": 10`, "", "--pids-limit (HostConfig.PidsLimit)"},
		{`"Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 10}]`, "", "--ulimit (HostConfig.Ulimits)"},
		{`"Devices": [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "rwm"}]`, "", "--device (HostConfig.Devices)"},
		{`"RestartPolicy": {"Name": "always"}`, "", "--restart (HostConfig.RestartPolicy)"},
		{`"PidMode": "host"`, "", "--pid (HostConfig.PidMode)"},
		{`"IpcMode": "host"`, "", "--ipc (HostConfig.IpcMode)"},
		{`"UTSMode": "host"`, "", "--uts (HostConfig.UTSMode)"},
		{`"UsernsMode": "private"`, "", "--userns (HostConfig.UsernsMode)"},
		{`"SecurityOpt": ["no-new-privileges"]`, "", "--security-opt (HostConfig.SecurityOpt)"},
		{`"Runtime": "kata"`, "", "--runtime (HostConfig.Runtime)"},
		{`"Init": true`, "", "--init (HostConfig.Init)"},
		{`"OomScoreAdj": 100`, "", "--oom-score-adj (HostConfig.OomScoreAdj)"},
		{`"LogConfig": {"Type": "syslog"}`, "", "--log-driver (HostConfig.LogConfig.Type)"},
		{`"Annotations": {"a": "b"}`, "", "HostConfig.Annotations is not supported"},
		{"", `"Healthcheck": {"Test": ["CMD", "true"]}`, "--health-cmd (Config.Healthcheck)"},
		{`"CapAdd": ["NOPE"]`, "", `unknown capability: "CAP_NOPE"`},
	} {
		body := `{"Image": "alpine", "Cmd": ["true"]`
		if tc.config != "" {
			body += ", " + tc.config
		}
		body += `, "HostConfig": {"NetworkMode": "none"`
		if tc.hostConfig != "" {
			body += ", " + tc.hostConfig
		}
		body += "}}"
		code, _, resp := h.api("POST", "/v1.41/containers/create?name=refused", body)
		var e struct{ Message string }
		json.Unmarshal([]byte(resp), &e)
		if code != 400 || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%s%s: %d %s, want 400 %q", tc.hostConfig, tc.config, code, strings.TrimSpace(resp), tc.want)
		}
	}
	if code, _, resp := h.api("GET", "/v1.41/containers/json?all=1", ""); code != 200 || strings.TrimSpace(resp) != "[]" {
		t.Fatalf("a refused create left a container: %s", resp)
	}
	// What the CLI, Compose and the Go SDK send when nothing is asked for.
	zero := `{"Image": "alpine", "Cmd": ["true"], "Healthcheck": null, "HostConfig": {"NetworkMode": "none",
		"RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "LogConfig": {"Type": "", "Config": {}},
		"OomKillDisable": false, "MemorySwappiness": null, "PidsLimit": null, "Memory": 0, "Devices": [],
		"Ulimits": null, "SecurityOpt": null, "CgroupnsMode": "", "IpcMode": "", "Isolation": "", "Init": null,
		"CapAdd": ["NET_ADMIN"], "CapDrop": ["MKNOD"], "Annotations": null}}`
	if code, _, resp := h.api("POST", "/v1.41/containers/create?name=zero", zero); code != 201 {
		t.Fatalf("the defaults of a create were refused: %d %s", code, resp)
	}
	if code, _, resp := h.api("POST", "/v1.41/containers/zero/start", ""); code != 204 {
		t.Fatalf("start: %d %s", code, resp)
	}
	// Implemented for real: --cap-add and --cap-drop.
	out := h.mustDocker("run", "--rm", "--network", "none", "--cap-add", "NET_ADMIN", "--cap-drop", "MKNOD", "alpine", "grep", "CapEff", "/proc/self/status")
	if !strings.Contains(out, "00000000a00435fb") {
		t.Errorf("--cap-add NET_ADMIN --cap-drop MKNOD: %q", out)
	}
	if out := h.mustDocker("run", "--rm", "--network", "none", "--cap-add", "NET_ADMIN", "alpine", "ip", "link", "set", "lo", "down"); out != "" {
		t.Errorf("ip link set with NET_ADMIN: %q", out)
	}
}
