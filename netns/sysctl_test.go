package netns

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSysctlsThroughPrivateProcfs: OpenSysctl reads and writes the calling
// thread's namespace as /proc does, but through a procfs of its own (a
// device of its own), which gives way to a new one every procSysLookups
// lookups, and the instances given up are closed.
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
	fdsBefore := openFDs(t)
	// An instance closed frees its device number for the next.
	var changes int
	var last uint64
	for i := range 3 * procSysLookups {
		fd, err := OpenSysctl("net/ipv4/ip_forward", unix.O_RDONLY)
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		if st.Dev == machine.Dev {
			t.Fatalf("lookup %d went through the machine's /proc (device %d)", i, st.Dev)
		}
		if i > 0 && st.Dev != last {
			changes++
		}
		last = st.Dev
	}
	if changes < 2 {
		t.Errorf("%d lookups went through %d procfs instances, want at least 3", 3*procSysLookups, changes+1)
	}
	if after := openFDs(t); after > fdsBefore+1 {
		t.Errorf("open descriptors: %d before, %d after: instances given up are left open", fdsBefore, after)
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
