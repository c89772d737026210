package launch

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// kernelAtLeast says whether the running kernel is major.minor or newer.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	for i, n := 0, 0; i < len(u.Release) && n < 2; i++ {
		c := u.Release[i]
		switch {
		case c >= '0' && c <= '9' && n == 0:
			ma = ma*10 + int(c-'0')
		case c >= '0' && c <= '9':
			mi = mi*10 + int(c-'0')
		default:
			n++
		}
	}
	return ma > major || ma == major && mi >= minor
}

// The way is the kernel's unless WayEnv forces one; the kernel's is
// FromThread from Linux 6.15 on, the fallback before.
func TestDetect(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the probe opens a proc filesystem context")
	}
	t.Setenv(WayEnv, "")
	way, why, err := detect()
	if err != nil {
		t.Fatal(err)
	}
	want := FromInit
	if kernelAtLeast(t, 6, 15) {
		want = FromThread
	}
	if way != want {
		t.Errorf("detected %v (%s), want %v on this kernel", way, why, want)
	}
	for env, want := range map[string]Way{"init": FromInit, "thread": FromThread} {
		t.Setenv(WayEnv, env)
		if way, why, err := detect(); way != want || err != nil {
			t.Errorf("%s=%s: %v (%s) %v, want %v", WayEnv, env, way, why, err, want)
		}
	}
	t.Setenv(WayEnv, "runc")
	if _, _, err := detect(); err == nil {
		t.Errorf("%s=runc: no error", WayEnv)
	}
}
