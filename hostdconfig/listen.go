package hostdconfig

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Listen opens the Docker API's listeners that c names, in the order
// hostd serves them: the lab's socket (c.Socket), then every -H (c.Hosts).
// A unix socket's path and a TCP listener's address resolve in the mount
// and network namespaces of the calling thread: hostd's own, or the
// host's, entered by a lab that opens them for a hostd started on demand.
// A TCP listener so belongs to the virtual host's network namespace:
// nothing outside the lab reaches it.
func (c *Config) Listen() ([]net.Listener, error) {
	var lns []net.Listener
	fail := func(err error) ([]net.Listener, error) {
		for _, ln := range lns {
			ln.Close() // made here: a unix socket's file goes too
		}
		return nil, err
	}
	ln, err := listenUnix(c.Socket)
	if err != nil {
		return fail(err)
	}
	lns = append(lns, ln)
	for _, h := range c.Hosts {
		network, addr, err := ParseDaemonHost(h)
		if err != nil {
			return fail(fmt.Errorf("hostd: -H %w", err))
		}
		switch network {
		case "unix":
			ln, err = listenUnix(addr)
		default:
			// "tcp", as dockerd listens: on 0.0.0.0 Go makes one
			// dual-stack socket, which ss shows as *:PORT.
			if ln, err = net.Listen("tcp", addr); err != nil {
				err = fmt.Errorf("hostd: listen %s: %w", h, err)
			}
		}
		if err != nil {
			return fail(err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// CloseListeners closes lns and leaves their socket files in place: the
// files are hostd's to remove, and an inherited copy of a listener may
// still serve them.
func CloseListeners(lns []net.Listener) {
	for _, ln := range lns {
		if u, ok := ln.(*net.UnixListener); ok {
			u.SetUnlinkOnClose(false)
		}
		ln.Close()
	}
}

// listenUnix opens a unix socket for the API. A stale socket file (no one
// answering) is removed; a live one means another daemon serves this host.
func listenUnix(path string) (net.Listener, error) {
	if _, err := os.Stat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("hostd: %s is served by another daemon", path)
		}
		os.Remove(path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("hostd: listen %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// ListenFDsFlag is hostd's flag that names inherited listeners: the
// descriptors, comma-separated, in Listen's order.
const ListenFDsFlag = "listen-fds"

// FormatFDs is the value of ListenFDsFlag for descriptors fds.
func FormatFDs(fds []int) string {
	s := make([]string, len(fds))
	for i, fd := range fds {
		s[i] = strconv.Itoa(fd)
	}
	return strings.Join(s, ",")
}

// Inherited turns the descriptors of ListenFDsFlag's value into the
// listeners Listen would have opened: one for c.Socket and one for each of
// c.Hosts, in that order, each a listening socket of the right kind.
func (c *Config) Inherited(value string) ([]net.Listener, error) {
	want := append([]string{"unix://" + c.Socket}, c.Hosts...)
	fields := strings.Split(value, ",")
	if len(fields) != len(want) {
		return nil, fmt.Errorf("hostd: --%s %q: %d descriptors for %d listeners (%s)", ListenFDsFlag, value, len(fields), len(want), strings.Join(want, ", "))
	}
	var lns []net.Listener
	for i, s := range fields {
		ln, err := inheritedListener(s, want[i])
		if err != nil {
			CloseListeners(lns)
			return nil, fmt.Errorf("hostd: --%s: %w", ListenFDsFlag, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// inheritedListener is the listener at descriptor s, which must serve
// host (a -H value).
func inheritedListener(s, host string) (net.Listener, error) {
	fd, err := strconv.Atoi(s)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%q is no descriptor", s)
	}
	f := os.NewFile(uintptr(fd), "listener "+host)
	if f == nil {
		return nil, fmt.Errorf("descriptor %d is not open", fd)
	}
	defer f.Close() // FileListener holds a copy
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("descriptor %d for %s: %w", fd, host, err)
	}
	network, addr, _ := ParseDaemonHost(host)
	if got := ln.Addr(); got.Network() != network || (network == "unix" && got.String() != addr) {
		ln.Close()
		return nil, fmt.Errorf("descriptor %d is %s %s, want %s", fd, got.Network(), got, host)
	}
	return ln, nil
}
