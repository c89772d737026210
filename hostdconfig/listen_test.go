package hostdconfig

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Listen opens the lab's socket, then every -H; Inherited takes such
// listeners back from their descriptors, in that order and no other.
func TestInheritedListeners(t *testing.T) {
	dir := t.TempDir()
	c := &Config{Socket: filepath.Join(dir, "docker.sock"), Hosts: []string{"unix://" + filepath.Join(dir, "run", "docker.sock")}}
	lns, err := c.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer CloseListeners(lns)
	got, err := c.Inherited(strings.Join(descriptors(t, lns), ","))
	if err != nil {
		t.Fatal(err)
	}
	for i, ln := range got {
		if want := lns[i].Addr().String(); ln.Addr().String() != want {
			t.Errorf("listener %d: %s, want %s", i, ln.Addr(), want)
		}
	}
	// A connection to the socket is accepted by the inherited copy.
	conn, err := net.Dial("unix", c.Socket)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if a, err := got[0].Accept(); err != nil {
		t.Errorf("accept on the inherited socket: %v", err)
	} else {
		a.Close()
	}
	CloseListeners(got)

	file, err := os.Create(filepath.Join(dir, "plain"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	plain := strconv.Itoa(int(file.Fd()))
	for _, bad := range []struct {
		value func(fds []string) string
		want  string
	}{
		{func(fds []string) string { return fds[1] + "," + fds[0] }, "want unix://" + c.Socket},
		{func(fds []string) string { return fds[0] }, "1 descriptors for 2 listeners"},
		{func(fds []string) string { return fds[0] + "," + plain }, "descriptor " + plain},
		{func(fds []string) string { return fds[0] + ",x" }, `"x" is no descriptor`},
	} {
		// Inherited owns the descriptors it is given: fresh ones each time.
		value := bad.value(descriptors(t, lns))
		lns, err := c.Inherited(value)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Inherited(%q): %v, want an error with %q", value, err, bad.want)
		}
		CloseListeners(lns)
	}
	// The socket files stay: hostd removes them when it stops.
	if _, err := os.Stat(c.Socket); err != nil {
		t.Errorf("after CloseListeners: %v", err)
	}
}

// descriptors returns a new descriptor of each listener, for Inherited
// to take. Those a refused value leaves open stay so until the test binary
// exits: closing them later could close a number reused meanwhile.
func descriptors(t *testing.T, lns []net.Listener) []string {
	t.Helper()
	fds := make([]string, len(lns))
	for i, ln := range lns {
		f, err := ln.(*net.UnixListener).File()
		if err != nil {
			t.Fatal(err)
		}
		fd, err := syscall.Dup(int(f.Fd()))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		fds[i] = strconv.Itoa(fd)
	}
	return fds
}
