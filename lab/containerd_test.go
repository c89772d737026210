package lab

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// listeningUnix finds a listening unix socket of a process's network
// namespace (this test's) by its path, and not one that is closed.
func TestListeningUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := listeningUnix(os.Getpid(), path); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	// A socket connected to it is no listener, and has no path of its own.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ln.Close()
	if err := listeningUnix(os.Getpid(), path); err == nil {
		t.Fatalf("%s still listening after close", path)
	}
}
