package hostd_test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// capSet reads one capability set ("CapEff", "CapBnd") of a process.
func capSet(t *testing.T, pid string, set string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%s/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + set + `:\s*([0-9a-f]+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no %s in /proc/%s/status", set, pid)
	}
	return string(m[1])
}

// A container runs with Docker 20.10's default capabilities (a real
// dockerd's CapEff 00000000a80425fb), in its main process and in what
// `docker exec` starts; --privileged keeps them all.
func TestContainerCapabilities(t *testing.T) { eachStart(t, testContainerCapabilities) }

func testContainerCapabilities(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	h.mustDocker("run", "-itd", "--name", "plain", "--network", "none", "alpine")
	h.mustDocker("run", "-itd", "--privileged", "--name", "priv", "--network", "none", "alpine")
	full := capSet(t, "self", "CapBnd")
	for _, c := range []struct {
		name string
		want string
	}{{"plain", "00000000a80425fb"}, {"priv", full}} {
		pid := strings.TrimSpace(h.mustDocker("inspect", "-f", "{{.State.Pid}}", c.name))
		for _, set := range []string{"CapEff", "CapPrm", "CapBnd"} {
			if got := capSet(t, pid, set); got != c.want {
				t.Errorf("%s: main process %s = %s, want %s", c.name, set, got, c.want)
			}
		}
		out := h.mustDocker("exec", c.name, "grep", "^CapEff", "/proc/self/status")
		if !strings.Contains(out, c.want) {
			t.Errorf("%s: docker exec's CapEff: %q, want %s", c.name, out, c.want)
		}
	}
	// The main process is the command itself, not a wrapper that exec'd it.
	pid := strings.TrimSpace(h.mustDocker("inspect", "-f", "{{.State.Pid}}", "plain"))
	if comm, _ := os.ReadFile("/proc/" + pid + "/comm"); strings.TrimSpace(string(comm)) == "setpriv" {
		t.Errorf("plain: the main process is still setpriv")
	}
}
