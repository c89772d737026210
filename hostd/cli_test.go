package hostd_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/nstest"
)

// inspectJSON runs `docker inspect` on one object.
func (h *testHost) inspectJSON(name string) map[string]any {
	h.t.Helper()
	var v []map[string]any
	if err := json.Unmarshal([]byte(h.mustDocker("inspect", name)), &v); err != nil || len(v) != 1 {
		h.t.Fatalf("docker inspect %s: %v", name, err)
	}
	return v[0]
}

func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

// linkNames lists the interfaces of a namespace through netlink.
func linkNames(t *testing.T, path string) []string { t.Helper(); return nstest.LinkNames(t, path) }

// [E10] none mode: loopback only, reachable with ip netns exec [E16].
func TestCLINoneMode(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	id := strings.TrimSpace(h.mustDocker("run", "-itd", "--name", "cm08", "--network", "none", "alpine"))
	if len(id) != 64 {
		t.Fatalf("run -d printed %q", id)
	}
	out := h.mustDocker("exec", "cm08", "ip", "-o", "addr")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "1: lo ") {
			t.Errorf("ip -o addr in a none container: %q", l)
		}
	}
	if !strings.Contains(out, "inet 127.0.0.1/8") {
		t.Errorf("lo has no 127.0.0.1: %q", out)
	}
	pin := h.pin("cm08")
	if names := linkNames(t, pin); len(names) != 1 || names[0] != "lo" {
		t.Fatalf("netlink in %s: %v", pin, names)
	}
	ipOut, err := exec.Command("ip", "netns", "exec", h.cfg.NetNSPrefix+"cm08", "ip", "-o", "link").CombinedOutput()
	if err != nil || !strings.Contains(string(ipOut), "1: lo:") || strings.Count(strings.TrimSpace(string(ipOut)), "\n") != 0 {
		t.Fatalf("ip netns exec: %v %q", err, ipOut)
	}
	// The pin is the container process's namespace.
	c := h.inspectJSON("cm08")
	pid := int(field(c, "State", "Pid").(float64))
	if nstest.Inode(t, fmt.Sprintf("/proc/%d/ns/net", pid)) != nstest.Inode(t, pin) {
		t.Fatal("pin and container process are in different namespaces")
	}
	if field(c, "NetworkSettings", "SandboxKey") != pin || field(c, "Name") != "/cm08" {
		t.Fatalf("inspect: SandboxKey %v Name %v", field(c, "NetworkSettings", "SandboxKey"), field(c, "Name"))
	}
	if ep, _ := field(c, "NetworkSettings", "Networks", "none", "EndpointID").(string); len(ep) != 64 {
		t.Fatalf("none endpoint id %q", ep)
	}
	// Hostname: the short id, in its own UTS namespace; files as Docker's.
	if got := strings.TrimSpace(h.mustDocker("exec", "cm08", "hostname")); got != id[:12] {
		t.Fatalf("hostname %q, want %q", got, id[:12])
	}
	hosts := h.mustDocker("exec", "cm08", "cat", "/etc/hosts")
	if !strings.HasPrefix(hosts, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n") {
		t.Fatalf("/etc/hosts %q", hosts)
	}
	if resolv := h.mustDocker("exec", "cm08", "cat", "/etc/resolv.conf"); strings.Contains(resolv, "nameserver") {
		t.Fatalf("resolv.conf names a resolver outside the lab: %q", resolv)
	}
	if own, _ := os.Hostname(); own == id[:12] {
		t.Fatal("the test's own hostname changed")
	}
	// `docker network inspect none` lists the container.
	var nets []map[string]any
	json.Unmarshal([]byte(h.mustDocker("network", "inspect", "none")), &nets)
	if len(nets) != 1 || field(nets[0], "Containers", id, "Name") != "cm08" {
		t.Fatalf("network inspect none: %v", nets)
	}
	// Exit codes of exec propagate through the CLI.
	if _, _, code := h.docker("exec", "cm08", "sh", "-c", "exit 3"); code != 3 {
		t.Fatalf("exec exit code %d, want 3", code)
	}
	// With a terminal: docker exec -it runs hostname and prints the short id.
	out, code := h.dockerTTY(nil, "exec", "-it", "cm08", "hostname")
	if code != 0 || !strings.Contains(out, id[:12]+"\r\n") {
		t.Fatalf("exec -it hostname: %d %q", code, out)
	}
	// docker attach, typed input, then the detach keys ctrl-p ctrl-q: the
	// CLI leaves as it does with dockerd (it reports the escape and exits
	// 1), the container keeps running.
	out, code = h.dockerTTY([]string{"hostname\r", "\x10\x11"}, "attach", "cm08")
	if code != 1 || !strings.Contains(out, id[:12]+"\r\n") || !strings.Contains(out, "read escape sequence") {
		t.Fatalf("attach and detach: %d %q", code, out)
	}
	if st := h.inspectJSON("cm08"); field(st, "State", "Running") != true {
		t.Fatalf("cm08 after detach: %v", field(st, "State"))
	}
	// The container's mount namespace: private, without any namespace pin
	// (it would keep other containers' namespaces alive), with its own
	// /etc/hosts; nothing of it shows in the machine's mount table.
	mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(mi)), "\n") {
		if strings.Contains(l, " - nsfs ") || strings.Contains(l, " /run/netns/") || strings.Contains(l, "shared:") {
			t.Errorf("container mount: %s", l)
		}
	}
	if !strings.Contains(string(mi), " /etc/hosts ") {
		t.Errorf("no /etc/hosts bind in the container")
	}
	if own, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(own), id) {
		t.Errorf("a container mount propagated to the machine")
	}
	// busybox applets where the machine has no program (alpine's ash).
	if out := h.mustDocker("exec", "cm08", "ash", "-c", "echo $((6*7))"); strings.TrimSpace(out) != "42" {
		t.Fatalf("ash: %q", out)
	}
	h.mustDocker("rm", "-f", "cm08")
	if _, err := os.Stat(pin); !os.IsNotExist(err) {
		t.Fatalf("pin %s after rm -f: %v", pin, err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); !os.IsNotExist(err) {
		t.Fatalf("process %d still there after rm -f", pid)
	}
	if out := h.mustDocker("ps", "-a", "-q"); out != "" {
		t.Fatalf("ps -a after rm -f: %q", out)
	}
}

// [E09] host mode: the host's own namespace, links and addresses.
func TestCLIHostMode(t *testing.T) { eachStart(t, testCLIHostMode) }

func testCLIHostMode(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	// Give the virtual host something to see: a veth pair with an
	// underlay address, all inside the host's namespace.
	hd, err := netns.Handle(h.nsPath)
	if err != nil {
		t.Fatal(err)
	}
	la := netlink.NewLinkAttrs()
	la.Name = "eth1"
	if err := hd.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "eth1peer"}); err != nil {
		t.Fatal(err)
	}
	l, err := hd.LinkByName("eth1")
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := netlink.ParseAddr("192.168.99.101/24")
	if err := hd.AddrAdd(l, addr); err != nil {
		t.Fatal(err)
	}
	hd.Close()

	h.mustDocker("run", "-itd", "--name", "hm", "--network", "host", "alpine")
	if nstest.Inode(t, h.pin("hm")) != nstest.Inode(t, h.nsPath) {
		t.Fatal("host-mode pin is not the host's namespace")
	}
	out := h.mustDocker("exec", "hm", "ip", "-o", "addr")
	if !strings.Contains(out, "eth1    inet 192.168.99.101/24") {
		t.Fatalf("host mode ip addr misses the host's eth1: %q", out)
	}
	if out := h.mustDocker("exec", "hm", "ip", "-o", "link"); !strings.Contains(out, "eth1peer") {
		t.Fatalf("host mode ip link: %q", out)
	}
	// Docker's host mode shares the host's UTS namespace: hostname h1.
	if got := strings.TrimSpace(h.mustDocker("exec", "hm", "hostname")); got != "h1" {
		t.Fatalf("host-mode hostname %q", got)
	}
	c := h.inspectJSON("hm")
	if field(c, "Config", "Hostname") != "h1" || field(c, "HostConfig", "NetworkMode") != "host" {
		t.Fatalf("inspect hm: %v %v", field(c, "Config", "Hostname"), field(c, "HostConfig", "NetworkMode"))
	}
	// Removing a host-mode container leaves the host's namespace alone.
	h.mustDocker("rm", "-f", "hm")
	if names := linkNames(t, h.nsPath); len(names) != 4 { // lo, docker0, the pair
		t.Fatalf("host links after rm: %v", names)
	}
}

// [E11] container mode: the same namespace, localhost between the two.
func TestCLIContainerMode(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	id := strings.TrimSpace(h.mustDocker("run", "-itd", "--name", "cm08", "--network", "none", "alpine"))
	h.mustDocker("run", "-itd", "--name", "cm09", "--network", "container:cm08", "alpine")
	if nstest.Inode(t, h.pin("cm09")) != nstest.Inode(t, h.pin("cm08")) {
		t.Fatal("cm09 is not in cm08's namespace")
	}
	// Docker shares the network container's hostname.
	if got := strings.TrimSpace(h.mustDocker("exec", "cm09", "hostname")); got != id[:12] {
		t.Fatalf("cm09 hostname %q, want %q", got, id[:12])
	}
	h.mustDocker("exec", "-d", "cm08", "sh", "-c", "echo pong | nc -l -p 7777")
	eventually(t, 10*time.Second, func() error {
		out, errs, code := h.docker("exec", "cm09", "nc", "-w", "2", "127.0.0.1", "7777")
		if code != 0 || strings.TrimSpace(out) != "pong" {
			return fmt.Errorf("nc from cm09: %d %q %q", code, out, errs)
		}
		return nil
	})
	// The sharing container joins no network of its own.
	_, errs, code := h.docker("network", "connect", "none", "cm09")
	if code == 0 || !strings.Contains(errs, "container sharing network namespace with another container or host cannot be connected to any other network") {
		t.Fatalf("network connect none cm09: %d %q", code, errs)
	}
	// A stopped network container cannot be joined.
	h.mustDocker("stop", "-t", "1", "cm09", "cm08")
	_, errs, code = h.docker("start", "cm09")
	if code == 0 || !strings.Contains(errs, "cannot join network of a non running container: cm08") {
		t.Fatalf("start cm09 with cm08 stopped: %d %q", code, errs)
	}
	for _, n := range []string{"cm08", "cm09"} {
		if _, err := os.Stat(h.pin(n)); !os.IsNotExist(err) {
			t.Fatalf("pin of stopped %s: %v", n, err)
		}
	}
}

// docker run without -d attaches before it starts; --rm removes.
func TestCLIRunAttachRm(t *testing.T) { eachStart(t, testCLIRunAttachRm) }

func testCLIRunAttachRm(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	out, errs, code := h.docker("run", "--rm", "--network", "none", "alpine", "echo", "hi")
	if code != 0 || out != "hi\n" {
		t.Fatalf("run --rm echo hi: %d %q %q", code, out, errs)
	}
	if out := h.mustDocker("ps", "-a", "-q"); out != "" {
		t.Fatalf("--rm container still listed: %q", out)
	}
	out, errs, code = h.docker("run", "--name", "five", "--network", "none", "alpine", "sh", "-c", "echo out; echo err >&2; exit 5")
	if code != 5 || out != "out\n" || errs != "err\n" {
		t.Fatalf("run exit 5: %d %q %q", code, out, errs)
	}
	if st := h.mustDocker("ps", "-a", "--filter", "name=five", "--format", "{{.Status}}"); !strings.HasPrefix(st, "Exited (5) ") {
		t.Fatalf("ps status %q", st)
	}
	if logs, lerrs, _ := h.docker("logs", "five"); logs != "out\n" || lerrs != "err\n" {
		t.Fatalf("logs: %q %q", logs, lerrs)
	}
	// stdin: -i passes input and closes it at EOF (StdinOnce).
	cmd := exec.Command(dockerCLI, "run", "-i", "--rm", "--network", "none", "alpine", "cat")
	cmd.Env = h.dockerEnv()
	cmd.Stdin = strings.NewReader("through stdin\n")
	b, err := cmd.Output()
	if err != nil || string(b) != "through stdin\n" {
		t.Fatalf("run -i cat: %v %q", err, b)
	}
	// A command that does not exist: Docker's message and exit code 127.
	_, errs, code = h.docker("run", "--network", "none", "alpine", "nonexistent-cmd")
	if code != 127 || !strings.Contains(errs, `exec: "nonexistent-cmd": executable file not found in $PATH`) {
		t.Fatalf("run missing command: %d %q", code, errs)
	}
	// --rm and a failed start: removed all the same (the CLI waits for it).
	_, errs, code = h.docker("run", "--rm", "--name", "gone", "--network", "none", "alpine", "nonexistent-cmd")
	if code != 127 {
		t.Fatalf("run --rm missing command: %d %q", code, errs)
	}
	if out := h.mustDocker("ps", "-aq", "--filter", "name=gone"); out != "" {
		t.Fatalf("--rm container kept after a failed start: %q", out)
	}
	// Interactive with a terminal: typed input reaches the shell.
	out, code = h.dockerTTY([]string{"hostname; exit 7\r"}, "run", "-it", "--rm", "--network", "none", "alpine", "sh")
	if code != 7 || !regexp.MustCompile(`\r\n[0-9a-f]{12}\r\n`).MatchString(out) {
		t.Fatalf("run -it sh: %d %q", code, out)
	}
}

// The CLI's listing and inspection commands against hostd.
func TestCLIListings(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	nets := h.mustDocker("network", "ls", "--format", "{{.ID}} {{.Name}} {{.Driver}} {{.Scope}}")
	if !regexp.MustCompile(`(?m)^[0-9a-f]{12} host host local$`).MatchString(nets) ||
		!regexp.MustCompile(`(?m)^[0-9a-f]{12} none null local$`).MatchString(nets) {
		t.Fatalf("network ls:\n%s", nets)
	}
	if _, errs, code := h.docker("network", "rm", "host"); code == 0 || !strings.Contains(errs, "host is a pre-defined network and cannot be removed") {
		t.Fatalf("network rm host: %d %q", code, errs)
	}
	if _, errs, code := h.docker("network", "create", "-d", "nope", "mv"); code == 0 || !strings.Contains(errs, `plugin "nope" not found`) {
		t.Fatalf("network create -d nope: %d %q", code, errs)
	}
	if !regexp.MustCompile(`(?m)^[0-9a-f]{12} bridge bridge local$`).MatchString(nets) {
		t.Fatalf("network ls without the default network:\n%s", nets)
	}
	// A missing network is found at start, as Docker finds it, and
	// nothing ever tries to pull.
	if _, errs, code := h.docker("run", "-d", "--name", "nonet", "--network", "nope", "alpine"); code != 125 || !strings.Contains(errs, "network nope not found") || strings.Contains(errs, "Unable to find image") {
		t.Fatalf("run --network nope: %d %q", code, errs)
	}
	if st := h.inspectJSON("nonet"); field(st, "State", "Status") != "created" || field(st, "State", "Error") != "network nope not found" {
		t.Fatalf("nonet state: %v", field(st, "State"))
	}
	h.mustDocker("run", "-itd", "--name", "cm01", "--network", "none", "alpine")
	if _, errs, code := h.docker("run", "-itd", "--name", "cm01", "--network", "none", "alpine"); code == 0 ||
		!strings.Contains(errs, `Conflict. The container name "/cm01" is already in use by container "`) {
		t.Fatalf("duplicate name: %d %q", code, errs)
	}
	ps := h.mustDocker("ps", "--format", "{{.Names}}|{{.Image}}|{{.Command}}|{{.Status}}")
	if !regexp.MustCompile(`^cm01\|alpine\|"/bin/sh"\|Up `).MatchString(ps) {
		t.Fatalf("ps: %q", ps)
	}
	if _, errs, code := h.docker("rm", "cm01"); code == 0 || !strings.Contains(errs, "You cannot remove a running container") {
		t.Fatalf("rm running: %d %q", code, errs)
	}
	info := h.mustDocker("info", "--format", "{{.Name}} {{.ServerVersion}} {{.ContainersRunning}} {{.Driver}}")
	if strings.TrimSpace(info) != "h1 20.10.24 1 nslab" {
		t.Fatalf("info: %q", info)
	}
	v := h.mustDocker("version", "--format", "{{.Server.APIVersion}} {{.Client.APIVersion}}")
	if strings.TrimSpace(v) != "1.41 1.41" {
		t.Fatalf("version: %q", v)
	}
	top := h.mustDocker("top", "cm01")
	if !strings.Contains(top, "/bin/sh") {
		t.Fatalf("top: %q", top)
	}
	h.mustDocker("stop", "-t", "1", "cm01")
	h.mustDocker("start", "cm01")
	h.mustDocker("restart", "-t", "1", "cm01")
	if st := h.inspectJSON("cm01"); field(st, "State", "Status") != "running" {
		t.Fatalf("after restart: %v", field(st, "State"))
	}
	if _, errs, code := h.docker("exec", "nope", "true"); code == 0 || !strings.Contains(errs, "No such container: nope") {
		t.Fatalf("exec nope: %d %q", code, errs)
	}
	h.mustDocker("kill", "cm01")
	if _, errs, code := h.docker("exec", "cm01", "true"); code == 0 || !strings.Contains(errs, "is not running") {
		t.Fatalf("exec on stopped: %d %q", code, errs)
	}
	if out := h.mustDocker("container", "prune", "-f"); !strings.Contains(out, "Deleted Containers:") {
		t.Fatalf("prune: %q", out)
	}
	if out := h.mustDocker("ps", "-aq"); out != "" {
		t.Fatalf("after prune: %q", out)
	}
	_ = net.IPv4len
}
