package etcdmember_test

import (
	"strings"
	"syscall"
	"testing"
	"time"
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
	time.Sleep(700 * time.Millisecond)
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
