package firewall

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and firewall rules in them")
	}
}

func needTool(t testing.TB, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("needs %s in PATH to read the ruleset back: %v", tool, err)
	}
}

// backendTools are the programs the tests read each backend's rules back
// with.
var backendTools = map[string][]string{
	KindIPTables: {"iptables", "iptables-save"},
	KindNFTables: {"nft"},
}

// eachBackend runs test once per backend kind, as a subtest named by the
// kind; it skips without root, and skips a kind whose tools are missing.
func eachBackend(t *testing.T, test func(t *testing.T, kind string)) {
	needRoot(t)
	for _, kind := range []string{KindIPTables, KindNFTables} {
		t.Run(kind, func(t *testing.T) {
			for _, tool := range backendTools[kind] {
				needTool(t, tool)
			}
			test(t, kind)
		})
	}
}

// setUpBackend makes a namespace (role and the kind's first three letters
// name it) and a backend of kind in it, set up.
func setUpBackend(t *testing.T, kind, role string) (ns string, b Backend) {
	t.Helper()
	ns, _ = newNS(t, role+kind[:3])
	b = newBackend(t, kind, ns)
	must(t, b.Setup())
	return ns, b
}

// nsPrefix makes every namespace name of this test process unique, so that
// parallel runs never meet.
var nsPrefix = func() string {
	b := make([]byte, 3)
	rand.Read(b)
	return "fwt" + hex.EncodeToString(b)
}()

// newNS creates a namespace named <prefix>-<name> and removes it when the
// test ends.
func newNS(t testing.TB, name string) (path, full string) {
	t.Helper()
	full = nsPrefix + "-" + name
	path, err := netns.NewNamed(full)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netns.Delete(full); err != nil {
			t.Errorf("delete namespace: %v", err)
		}
	})
	return path, full
}

// newBackend creates a backend bound to the namespace at path; it is closed
// (not torn down) when the test ends.
func newBackend(t testing.TB, kind, path string) Backend {
	t.Helper()
	return newBackendWith(t, kind, path, Options{})
}

// newBackendWith is newBackend with the daemon settings o.
func newBackendWith(t testing.TB, kind, path string, o Options) Backend {
	t.Helper()
	var b Backend
	err := netns.Do(path, func() (err error) {
		b, err = NewWithOptions(kind, o)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// runIn runs a tool inside the namespace at path and returns its stdout.
func runIn(t testing.TB, path string, name string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	err := netns.Do(path, func() error {
		cmd := exec.Command(name, args...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		return cmd.Run()
	})
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func iptablesSave(t testing.TB, path string) []string {
	t.Helper()
	return kernel.RulesetLines(runIn(t, path, "iptables-save"))
}

// diffLines reports the first difference between two rule lists, with both
// in full, or "" when they are equal.
func diffLines(got, want []string) string {
	if strings.Join(got, "\n") == strings.Join(want, "\n") {
		return ""
	}
	n := min(len(got), len(want))
	i := 0
	for i < n && got[i] == want[i] {
		i++
	}
	g, w := "(end)", "(end)"
	if i < len(got) {
		g = got[i]
	}
	if i < len(want) {
		w = want[i]
	}
	return fmt.Sprintf("first difference at line %d:\n  got:  %s\n  want: %s\n--- got:\n%s\n--- want:\n%s",
		i+1, g, w, strings.Join(got, "\n"), strings.Join(want, "\n"))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The fixture's networks and port, from fixtures/docker-20.10/README.md.
var (
	docker0 = Network{Bridge: "docker0", Subnet: netip.MustParsePrefix("172.17.0.0/16"), ICC: true, Masquerade: true}
	br1     = Network{Bridge: "br-eb32af8ac64a", Subnet: netip.MustParsePrefix("172.18.0.0/16"), ICC: true, Masquerade: true}
	br5     = Network{Bridge: "br-12f33605f35d", Subnet: netip.MustParsePrefix("192.168.1.0/24"), ICC: true, Masquerade: true}
	web     = Port{Bridge: br1.Bridge, Proto: "tcp", HostPort: 8080, ContainerIP: netip.MustParseAddr("172.18.0.2"), ContainerPort: 80}
)

// loadFixture is the iptables-save of the real dockerd 20.10, normalised.
func loadFixture(t testing.TB) []string {
	t.Helper()
	raw, err := os.ReadFile("../../fixtures/docker-20.10/iptables-save.txt")
	if err != nil {
		t.Fatal(err)
	}
	return kernel.RulesetLines(string(raw))
}

// onlyDocker0 keeps the fixture's rules that belong neither to br1, br5 nor
// the published port: what Docker shows with docker0 alone.
func onlyDocker0(save []string) []string {
	var out []string
	for _, l := range save {
		if !strings.Contains(l, br1.Bridge) && !strings.Contains(l, br5.Bridge) && !strings.Contains(l, web.ContainerIP.String()) {
			out = append(out, l)
		}
	}
	return out
}
