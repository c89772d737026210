package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// A host is a machine you log into: its hostname, its own /run and /sys,
// its resolv.conf. What is made in its /run never reaches the machine, and
// down takes it all away, processes in namespaces that only the host knows
// included.
func TestHostNamespaces(t *testing.T) {
	requireRoot(t)
	topo := plainTopology(2)
	topo.Hosts[0].DNS = []netip.Addr{netip.MustParseAddr("10.99.0.3")}
	l := upLab(t, topo, Options{})
	h := l.Hosts()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sh := func(line string) string {
		t.Helper()
		r, err := h.Exec(ctx, "sh", "-c", line)
		if err != nil || r.ExitCode != 0 {
			t.Fatalf("%s: %v, status %d: %s%s", line, err, r.ExitCode, r.Stdout, r.Stderr)
		}
		return r.Stdout
	}
	if got := sh("hostname"); got != "h1\n" {
		t.Errorf("hostname %q, want h1", got)
	}
	if got := sh("ls /sys/class/net"); got != "eth1\nlo\n" {
		t.Errorf("/sys/class/net in the host: %q, want the host's eth1 and lo", got)
	}
	if got := sh("findmnt -n -o FSTYPE /run"); got != "tmpfs\n" {
		t.Errorf("/run in the host is %q, want a tmpfs", got)
	}
	if got := sh("cat /etc/resolv.conf"); got != "nameserver 10.99.0.3\n" {
		t.Errorf("/etc/resolv.conf in the host: %q", got)
	}
	sh("test ! -e /var/run/netns && test -d /var/run/lock")
	sh("touch /run/made-in-h1 && ip netns add student && setsid ip netns exec student sleep 60 </dev/null >/dev/null 2>&1 &")
	if _, err := os.Stat("/run/made-in-h1"); !os.IsNotExist(err) {
		t.Errorf("a file made in the host's /run is on the machine: %v", err)
	}
	if _, err := os.Stat(netns.Path("student")); !os.IsNotExist(err) {
		t.Errorf("a namespace added in the host is on the machine: %v", err)
	}
	// Both namespaces are held open until the end: a namespace that ends
	// frees its inode number for the next one the kernel makes (a CI run
	// found another lab's docker-applyLayer "left" in the host's mount
	// namespace that way), and the scan after down must name these.
	f, err := h.Open("/var/run/netns/student")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	student, _ := netns.Inode("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	mntFile, err := os.Open(h.MountNS())
	if err != nil {
		t.Fatal(err)
	}
	defer mntFile.Close()
	mnt, _ := netns.Inode("/proc/self/fd/" + strconv.Itoa(int(mntFile.Fd())))
	deadline := time.Now().Add(5 * time.Second)
	for len(scanInside(map[uint64]string{student: ""})) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(scanInside(map[uint64]string{student: ""})) != 1 {
		t.Fatal("the student's sleep does not run in its namespace")
	}

	if err := l.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if left := scanInside(map[uint64]string{student: "", mnt: ""}); len(left) > 0 {
		t.Errorf("processes left in the host's namespaces after down:\n%s", describeProcs(left))
	}
	requireGone(t, l.ID(), l.StateDir())
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), l.StateDir()) {
		t.Errorf("mounts under %s left", l.StateDir())
	}
}

// A plain host's UTS and mount namespaces are made at its first use, once
// however many ask at the same moment, and reset drops them again: up had
// not made them.
func TestPlainHostNamespacesAtFirstUse(t *testing.T) {
	requireRoot(t)
	l := upLab(t, plainTopology(1), Options{Resettable: true})
	h := l.Hosts()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	unmade := func(when string) {
		t.Helper()
		for _, p := range []string{h.UTSNS(), h.MountNS()} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s: %s is there (%v)", when, p, err)
			}
		}
	}
	unmade("after up")
	errs := make(chan error, 8)
	for range 8 {
		go func() { errs <- h.Check() }()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	hostname := func() string {
		t.Helper()
		r, err := h.Exec(ctx, "hostname")
		if err != nil || r.ExitCode != 0 {
			t.Fatalf("hostname: %v, status %d: %s", err, r.ExitCode, r.Stderr)
		}
		return r.Stdout
	}
	if got := hostname(); got != "h1\n" {
		t.Errorf("hostname %q after eight Checks at once, want h1", got)
	}
	if err := l.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	unmade("after reset")
	if got := hostname(); got != "h1\n" {
		t.Errorf("hostname %q after reset, want h1", got)
	}
}

// describeProcs says what each process is, for a failure's message: its
// command line, parent, state and namespaces, as /proc shows them now.
func describeProcs(ps []proc) string {
	var b strings.Builder
	for _, p := range ps {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.pid))
		st, _ := kernel.ReadProcessStat(p.pid)
		fmt.Fprintf(&b, "pid %d (%q, parent %d, state %c):", p.pid, strings.ReplaceAll(string(cmd), "\x00", " "), st.PPID, st.State)
		for _, kind := range []string{"net", "mnt", "uts"} {
			l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", p.pid, kind))
			fmt.Fprintf(&b, " %s", l)
		}
		b.WriteString("\n")
	}
	return b.String()
}
