package netns

import (
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSysctlsThroughPrivateProcfs: OpenSysctl reads and writes the calling
// thread's namespace as /proc does, but through a procfs of its own (a
// device of its own), the same for all lookups of one namespace and
// shared by at most procSysNamespaces namespaces, and no more than
// procSysInstances stay open.
func TestSysctlsThroughPrivateProcfs(t *testing.T) {
	needRoot(t)
	err := DoFresh(func() error {
		if err := WriteSysctl("net/ipv4/ip_forward", "1"); err != nil {
			return err
		}
		b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		if err != nil || string(b) != "1\n" {
			t.Errorf("/proc after WriteSysctl: %q %v", b, err)
		}
		if v, err := ReadSysctl("net/ipv4/ip_forward"); err != nil || v != "1" {
			t.Errorf("ReadSysctl: %q %v", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var machine unix.Stat_t
	if err := unix.Stat("/proc/sys/net/ipv4/ip_forward", &machine); err != nil {
		t.Fatal(err)
	}
	device := func() uint64 {
		fd, err := OpenSysctl("net/ipv4/ip_forward", unix.O_RDONLY)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		if st.Dev == machine.Dev {
			t.Fatalf("a lookup went through the machine's /proc (device %d)", st.Dev)
		}
		return st.Dev
	}
	// One namespace, always the same instance.
	mine := device()
	for range 2 * procSysNamespaces {
		if d := device(); d != mine {
			t.Fatalf("this namespace's lookups went through devices %d and %d", mine, d)
		}
	}
	// New namespaces, held alive (an inode of a namespace gone may be
	// another's), fill instances of procSysNamespaces each; no more than
	// procSysInstances stay open, the latest namespaces' among them.
	defer func(n, i int) { procSysNamespaces, procSysInstances = n, i }(procSysNamespaces, procSysInstances)
	procSysNamespaces, procSysInstances = 4, 3
	fdsBefore := openFDs(t)
	var held []int
	var inodes []uint64
	defer func() {
		for _, fd := range held {
			unix.Close(fd)
		}
	}()
	for range (procSysInstances + 2) * procSysNamespaces {
		err := DoFresh(func() error {
			fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			held = append(held, fd)
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				return err
			}
			inodes = append(inodes, st.Ino)
			device()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	procSys.Lock()
	if len(procSys.kept) > procSysInstances {
		t.Errorf("%d instances kept, want at most %d", len(procSys.kept), procSysInstances)
	}
	for _, i := range procSys.kept {
		if len(i.namespaces) > procSysNamespaces {
			t.Errorf("an instance serves %d namespaces, want at most %d", len(i.namespaces), procSysNamespaces)
		}
	}
	for _, ino := range inodes[len(inodes)-(procSysInstances-1)*procSysNamespaces:] {
		if i := procSys.byNS[ino]; i == nil || !slices.Contains(procSys.kept, i) {
			t.Errorf("namespace %d, among the latest, has no instance kept", ino)
		}
	}
	procSys.Unlock()
	if after := openFDs(t) - len(held); after > fdsBefore+procSysInstances {
		t.Errorf("open descriptors: %d before, %d after (without the namespaces held): more than %d instances kept", fdsBefore, after, procSysInstances)
	}
}

// TestWithProcSys: the path WithProcSys gives is a /proc/sys of the
// calling thread's namespace.
func TestWithProcSys(t *testing.T) {
	needRoot(t)
	err := DoFresh(func() error {
		if err := WriteSysctl("net/ipv4/ip_forward", "1"); err != nil {
			return err
		}
		return WithProcSys(func(procSys string) error {
			b, err := os.ReadFile(procSys + "/net/ipv4/ip_forward")
			if err != nil || string(b) != "1\n" {
				t.Errorf("%s/net/ipv4/ip_forward: %q %v", procSys, b, err)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
