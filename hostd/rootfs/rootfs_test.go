package rootfs_test

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/nslab/nslab/hostd/rootfs"
	"github.com/nslab/nslab/hostd/rootfs/launch"
	"github.com/nslab/nslab/hostd/rootfs/rootfstest"
	"github.com/nslab/nslab/netns"
)

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: a container's start mounts and pivots")
	}
}

// container is one container's directories: the image layer, upper and
// work directories and the root mount point.
type container struct {
	layer, upper, work, root string
}

func newContainer(t *testing.T) container {
	t.Helper()
	needRoot(t)
	dir := t.TempDir()
	c := container{layer: rootfstest.Layer(t), upper: filepath.Join(dir, "upper"), work: filepath.Join(dir, "work"), root: filepath.Join(dir, "rootfs")}
	for _, d := range []string{c.upper, c.work, c.root} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// spec is a default container of c running args, as hostd makes it.
func (c container) spec(args ...string) *rootfs.Spec {
	return &rootfs.Spec{
		Root: c.root, Layers: []string{c.layer}, Upper: c.upper, Work: c.work,
		Hostname:    "c1",
		MaskedPaths: rootfs.DefaultMaskedPaths, ReadonlyPaths: rootfs.DefaultReadonlyPaths,
		Process: rootfs.Process{Args: args, Env: []string{defaultPath}, Cwd: "/", Caps: rootfs.DefaultCapabilities},
	}
}

// run starts s as hostd does and returns what the command printed on
// stdout and stderr, or why it could not start.
func run(t *testing.T, s *rootfs.Spec, way launch.Way) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd, err := start(t, s, w, launch.Options{Way: way})
	w.Close()
	if err != nil {
		return "", err
	}
	b, _ := io.ReadAll(r)
	cmd.Wait()
	return string(b), nil
}

// start starts s's command as hostd does (package launch), in a fresh
// network namespace as the container's sandbox, with out as its stdout
// and stderr.
func start(t testing.TB, s *rootfs.Spec, out *os.File, o launch.Options) (*exec.Cmd, error) {
	t.Helper()
	f, err := netns.NewFresh(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	net := os.NewFile(uintptr(f.FD), "netns")
	f.FD = -1 // net closes it
	defer net.Close()
	return launch.Start(launch.Container{NetNS: net, Stdout: out, Stderr: out, Spec: s}, o)
}

func mustRun(t *testing.T, s *rootfs.Spec, way launch.Way) string {
	t.Helper()
	out, err := run(t, s, way)
	if err != nil {
		t.Fatalf("%v: %v (output %q)", s.Process.Args, err, out)
	}
	return out
}

// eachWay runs fn as a subtest for each way of starting a container,
// skipping FromThread where the kernel lacks what it needs.
func eachWay[T interface {
	testing.TB
	Run(string, func(T)) bool
}](t T, fn func(t T, way launch.Way)) {
	for _, way := range []launch.Way{launch.FromThread, launch.FromInit} {
		t.Run(way.String(), func(t T) {
			if err := launch.ThreadSupport(); way == launch.FromThread && err != nil {
				t.Skipf("the kernel lacks %v", err)
			}
			fn(t, way)
		})
	}
}

// The "done when", at the start's level: a container sees its image
// and nothing of the machine; its writes land in its upper directory; its
// command is PID 1 of its own PID namespace.
func TestContainerSeesOnlyItsImage(t *testing.T) {
	eachWay(t, testContainerSeesOnlyItsImage)
}

func testContainerSeesOnlyItsImage(t *testing.T, way launch.Way) {
	c := newContainer(t)
	marker := rootfstest.Marker(t)
	name := filepath.Base(marker)
	out := mustRun(t, c.spec("sh", "-c", "touch /root/"+name+" /"+name+"; rm -rf "+marker+"; ls /; echo; cat /proc/1/cmdline; echo; ls /run/nslab 2>&1; ps -o pid,args; true"), way)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the machine's %s: %v", marker, err)
	}
	for _, p := range []string{"/root/" + name, "/" + name} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("the container's write reached the machine: %s: %v", p, err)
		}
		if _, err := os.Lstat(filepath.Join(c.upper, p)); err != nil {
			t.Errorf("the container's write is not in its upper directory: %v", err)
		}
	}
	// The image's tree, the mount points of /dev, /proc and /sys, and the
	// file the container made.
	want := []string{"dev", "proc", "sys", name}
	entries, _ := os.ReadDir(c.layer)
	for _, e := range entries {
		want = append(want, e.Name())
	}
	sort.Strings(want)
	if got := strings.Fields(strings.SplitN(out, "\n\n", 2)[0]); !slices.Equal(got, want) {
		t.Errorf("ls / in the container: %q, want %q", got, want)
	}
	if !strings.Contains(out, "sh\x00-c\x00touch") {
		t.Errorf("/proc/1/cmdline is not the command: %q", out)
	}
	if !strings.Contains(out, "ls: /run/nslab: No such file or directory") {
		t.Errorf("the machine's /run/nslab is visible: %q", out)
	}
	// Two processes: the command, and ps (busybox's sh runs its applets
	// in a fork of itself, so ps shows sh's command line as {ps}).
	if !regexp.MustCompile(`\nPID +COMMAND\n    1 sh -c touch.*\n +[0-9]+ (\{ps\} sh -c touch|ps ).*\n$`).MatchString(out) {
		t.Errorf("ps shows other processes than the container's: %q", out)
	}
}

// A command that cannot be found or executed is reported as runc words it.
func TestCommandErrors(t *testing.T) {
	eachWay(t, testCommandErrors)
}

func testCommandErrors(t *testing.T, way launch.Way) {
	c := newContainer(t)
	for _, tc := range []struct {
		args []string
		kind rootfs.ErrorKind
		msg  string
	}{
		{[]string{"nonexistent-cmd"}, rootfs.ErrNotFound, `exec: "nonexistent-cmd": executable file not found in $PATH`},
		{[]string{"/nope"}, rootfs.ErrNotFound, `exec: "/nope": stat /nope: no such file or directory`},
		{[]string{"/etc/passwd"}, rootfs.ErrCannotExecute, `exec: "/etc/passwd": permission denied`},
		{[]string{"/tmp"}, rootfs.ErrCannotExecute, `exec: "/tmp": permission denied`},
	} {
		_, err := run(t, c.spec(tc.args...), way)
		var re *rootfs.Error
		if !errors.As(err, &re) || re.Kind != tc.kind || re.Msg != tc.msg {
			t.Errorf("%v: %v, want %c %q", tc.args, err, tc.kind, tc.msg)
		}
	}
}

// BenchmarkStart measures a container's start as hostd does it: enter
// the namespaces, build the root filesystem and fork the command, until
// the command runs.
func BenchmarkStart(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	layer := rootfstest.Layer(b)
	eachWay(b, func(b *testing.B, way launch.Way) { benchmarkStart(b, layer, way) })
}

func benchmarkStart(b *testing.B, layer string, way launch.Way) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		c := container{layer: layer, upper: filepath.Join(dir, "upper"), work: filepath.Join(dir, "work"), root: filepath.Join(dir, "rootfs")}
		for _, d := range []string{c.upper, c.work, c.root} {
			os.Mkdir(d, 0o700)
		}
		s := c.spec("sleep", "1000")
		b.StartTimer()
		cmd, err := start(b, s, nil, launch.Options{Way: way})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		cmd.Process.Kill()
		cmd.Wait()
		b.StartTimer()
	}
}

// The user of --user, -u and exec -u, found in the image's /etc/passwd and
// /etc/group as runc finds it.
func TestLookupUser(t *testing.T) {
	needRoot(t)
	layer := rootfstest.Layer(t)
	for _, tc := range []struct {
		spec     string
		groupAdd []string
		want     rootfs.User
		err      string
	}{
		{"", nil, rootfs.User{UID: 0, GID: 0, Groups: []uint32{0, 10}, Home: "/root"}, ""},
		{"user", nil, rootfs.User{UID: 1000, GID: 1000, Groups: []uint32{1000, 10}, Home: "/home/user"}, ""},
		{"1000:wheel", nil, rootfs.User{UID: 1000, GID: 10, Groups: []uint32{10}, Home: "/home/user"}, ""},
		{"1234:5678", []string{"wheel", "42"}, rootfs.User{UID: 1234, GID: 5678, Groups: []uint32{5678, 10, 42}, Home: "/"}, ""},
		{"nosuch", nil, rootfs.User{}, "unable to find user nosuch: no matching entries in passwd file"},
		{"user:nosuch", nil, rootfs.User{}, "unable to find group nosuch: no matching entries in group file"},
		{"user", []string{"nosuch"}, rootfs.User{}, "Unable to find group nosuch"},
	} {
		var got rootfs.User
		var err error
		netns.OnThread(func() error {
			if err := syscall.Unshare(syscall.CLONE_FS); err != nil {
				return err
			}
			if err := syscall.Chroot(layer); err != nil {
				return err
			}
			got, err = rootfs.LookupUser(tc.spec, tc.groupAdd)
			return nil
		})
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q %v: %+v %v, want %+v", tc.spec, tc.groupAdd, got, err, tc.want)
		}
	}
}

// With a terminal, the start allocates it in the container's own devpts,
// gives hostd the master and binds the slave over /dev/console.
func TestTerminal(t *testing.T) {
	eachWay(t, testTerminal)
}

func testTerminal(t *testing.T, way launch.Way) {
	c := newContainer(t)
	s := c.spec("sh", "-c", "tty; ls /dev/console")
	s.Tty = true
	var master *os.File
	cmd, err := start(t, s, nil, launch.Options{Way: way, Terminal: func(m *os.File) { master = m }})
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	b, _ := io.ReadAll(master) // EIO once the container's side is closed
	cmd.Wait()
	if out := strings.ReplaceAll(string(b), "\r", ""); out != "/dev/pts/0\n/dev/console\n" {
		t.Fatalf("in the container's terminal: %q", b)
	}
}
