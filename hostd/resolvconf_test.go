package hostd_test

import (
	"strings"
	"testing"
)

// A container started on the default bridge gets the embedded DNS when it
// joins its first user-defined network, as libnetwork's resolver start
// rewrites resolv.conf then; it keeps it after leaving that network.
func TestConnectSwitchesToEmbeddedDNS(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	h.mustDocker("network", "create", "br1")
	h.mustDocker("run", "-itd", "--name", "cm01", "alpine")
	if out := h.mustDocker("exec", "cm01", "cat", "/etc/resolv.conf"); strings.Contains(out, "127.0.0.11") {
		t.Fatalf("on docker0 alone, resolv.conf names the embedded DNS:\n%s", out)
	}
	h.mustDocker("network", "connect", "br1", "cm01")
	want := "nameserver 127.0.0.11\noptions ndots:0\n"
	if out := h.mustDocker("exec", "cm01", "cat", "/etc/resolv.conf"); out != want {
		t.Errorf("after connect br1, resolv.conf:\n%s\nwant:\n%s", out, want)
	}
	h.mustDocker("network", "disconnect", "br1", "cm01")
	if out := h.mustDocker("exec", "cm01", "cat", "/etc/resolv.conf"); out != want {
		t.Errorf("after disconnect br1, resolv.conf:\n%s\nwant:\n%s", out, want)
	}
}
