package lab

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// listeningUnix and listeningTCP find a listening socket of a process's
// network namespace (this test's): a unix socket by its path, a TCP one (on
// loopback) by its port. A socket connected to it is no listener (a unix
// one has no path of its own), and a closed listener is not found.
func TestListening(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "c.sock")
	for _, c := range []struct {
		network, addr string
		listening     func(ln net.Listener) error
	}{
		{"unix", sock, func(net.Listener) error { return listeningUnix(os.Getpid(), sock) }},
		{"tcp4", "127.0.0.1:0", func(ln net.Listener) error { return listeningTCP(os.Getpid(), ln.Addr().(*net.TCPAddr).Port) }},
	} {
		t.Run(c.network, func(t *testing.T) {
			ln, err := net.Listen(c.network, c.addr)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.listening(ln); err != nil {
				t.Fatalf("%s: %v", ln.Addr(), err)
			}
			conn, err := net.Dial(c.network, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ln.Close()
			if err := c.listening(ln); err == nil {
				t.Fatalf("%s still listening after close", ln.Addr())
			}
		})
	}
}
