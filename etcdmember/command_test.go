package etcdmember_test

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/etcdmember"
	"github.com/nslab/nslab/netns"
)

// A member program asked to stop while its cluster is still forming (its
// peer never comes) closes the member and exits 0: a stop, not a failure.
// With -timeout 0 (nslab-etcd's default) it would otherwise wait forever.
func TestMainStopsWhileWaiting(t *testing.T) {
	hosts := newHosts(t, 2)
	h := hosts[0]
	p := startIn(t, h.ns, h.member, binary(t, "membermain"),
		"-name", h.member, "-data-dir", dataDir(t.TempDir(), h), "-advertise", h.addr.String(),
		"-cluster", "docker-node1=192.168.8.150,docker-node2=192.168.8.148", "-timeout", "0")
	// Listening for its peer, it is waiting for it: past its signal
	// handler, which comes first. A fixed wait was too short for a loaded
	// machine, where a SIGTERM before the handler killed the program.
	waitListening(t, h.ns, etcdmember.DefaultPeerPort, p)
	select {
	case <-p.exited:
		t.Fatalf("exited while waiting for its peer: %v\n%s", p.cmd.ProcessState, p.stderr.String())
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5s after SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 || p.stderr.String() != "" {
		t.Errorf("exit %d, stderr %q; want 0 and nothing", code, p.stderr.String())
	}
}

// Bad flags are a usage error (2), and a bad cluster says which entry.
func TestMainFlags(t *testing.T) {
	hosts := newHosts(t, 1)
	h := hosts[0]
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-no-such-flag"}, 2, "flag provided but not defined: -no-such-flag"},
		{[]string{"-name", "m", "extra"}, 2, `unexpected arguments ["extra"]`},
		{[]string{"-name", "m", "-data-dir", t.TempDir(), "-advertise", h.addr.String(), "-cluster", "m"}, 1, `membermain: -cluster: "m" is not NAME=ADDR`},
		{[]string{"-name", "m", "-data-dir", t.TempDir(), "-advertise", "nowhere"}, 1, "membermain: -advertise:"},
	} {
		p := startIn(t, h.ns, h.member, binary(t, "membermain"), c.args...)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			t.Fatalf("%v: still running", c.args)
		}
		if code := p.cmd.ProcessState.ExitCode(); code != c.code || !strings.Contains(p.stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, p.stderr.String(), c.code, c.want)
		}
	}
}

// waitListening waits until a TCP socket listens on port in the namespace
// at ns (its /proc/net/tcp), failing the test if p exits first or after
// 20 s.
func waitListening(t *testing.T, ns string, port int, p *proc) {
	t.Helper()
	want := fmt.Sprintf(":%04X", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var listening bool
		err := netns.Do(ns, func() error {
			f, err := os.Open("/proc/thread-self/net/tcp")
			if err != nil {
				return err
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				// sl local_address rem_address st: st 0A is LISTEN.
				fields := strings.Fields(sc.Text())
				if len(fields) > 3 && strings.HasSuffix(fields[1], want) && fields[3] == "0A" {
					listening = true
				}
			}
			return sc.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		if listening {
			return
		}
		select {
		case <-p.exited:
			t.Fatalf("exited before listening on port %d: %v\n%s", port, p.cmd.ProcessState, p.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on port %d after 20 s", port)
		}
	}
}
