package lab

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// resetTopology is a docker host and a plain router on one segment.
func resetTopology() *Topology {
	return &Topology{
		Name:     "reset",
		Segments: []Segment{{Name: "lan0", Prefix: netip.MustParsePrefix("192.168.99.0/24")}},
		Hosts: []HostSpec{
			{Name: "host1", Kind: KindDocker, Forwarding: true,
				Interfaces: []InterfaceSpec{{Segment: "lan0", Address: netip.MustParsePrefix("192.168.99.101/24")}}},
			{Name: "router", Kind: KindPlain,
				Interfaces: []InterfaceSpec{{Segment: "lan0", Address: netip.MustParsePrefix("192.168.99.1/24")}}},
		},
	}
}

// sh runs a shell line inside a host; it must exit 0.
func sh(t testing.TB, l *Lab, host, line string) string {
	t.Helper()
	h, err := l.Host(host)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The docker CLI talks to the host's own daemon.
	r, err := h.Exec(ctx, "env", "DOCKER_HOST="+h.DockerHost(), "sh", "-c", line)
	if err != nil || r.ExitCode != 0 {
		t.Fatalf("%s: %s: %v, exit %d\n%s%s", host, line, err, r.ExitCode, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// lookOf is what a student and the teacher see of the lab: nslab inspect
// (Comparable: a daemon started again has another pid and docker0), and
// each daemon's containers and networks (by name: a dockerd started again
// gives its default networks new ids, as any fresh one).
func lookOf(t *testing.T, l *Lab) string {
	t.Helper()
	ctx := context.Background()
	d, err := l.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	json.NewEncoder(&b).Encode(d.Comparable())
	for _, h := range l.dockerHosts() {
		c := testClient(t, h)
		cs, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
		if err != nil {
			t.Fatal(err)
		}
		ns, err := c.NetworkList(ctx, client.NetworkListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		for _, ct := range cs.Items {
			seen = append(seen, "container "+strings.Join(ct.Names, ","))
		}
		for _, n := range ns.Items {
			seen = append(seen, "network "+n.Name)
		}
		slices.Sort(seen)
		b.WriteString(h.Name + ": " + strings.Join(seen, ", ") + "\n")
	}
	return b.String()
}

// Reset undoes what a student does to a lab: containers, networks and
// tags in the daemon; links, addresses, routes, sysctls, rules, qdiscs and
// a namespace in the hosts; a process left running; a cable unplugged and
// a link degraded. The lab then looks as up left it, and its daemon still
// serves.
func TestReset(t *testing.T) {
	requireRoot(t)
	l := upLab(t, resetTopology(), Options{Hostd: realHostd(t), Resettable: true})
	fresh := lookOf(t, l)
	extra := l.ID() + "-extra"
	for _, line := range []string{
		"docker run -d --name cm01 busybox sleep 1000",
		"docker network create br1 && docker run -d --name cm02 --network br1 busybox sleep 1000",
		"docker tag busybox lab/mine:v1",
		"ip link add va type veth peer name vb && ip addr add 10.7.0.1/24 dev va && ip link set va up",
		"ip addr add 192.168.99.201/24 dev eth1 && ip route add 10.8.0.0/16 via 192.168.99.1",
		"ip rule add from 10.9.0.0/16 table 100 prio 1000",
		"sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.eth1.proxy_arp=1",
		"ip link set eth1 promisc on mtu 1400",
		"iptables -I DOCKER-USER -s 10.9.0.0/16 -j DROP && iptables -t mangle -A PREROUTING -j MARK --set-mark 7",
		"nft add table inet student && nft add chain inet student c '{ type filter hook input priority 0; }'",
		"tc qdisc add dev eth1 root tbf rate 1mbit burst 32kbit latency 400ms",
		// The host's own /run: a pin under /var/run/netns and a file.
		"ip netns add " + extra,
		"mkdir -p /run/student && echo notes > /run/student/notes && mount -t tmpfs none /run/student",
	} {
		sh(t, l, "host1", line)
	}
	sh(t, l, "router", "sysctl -w net.ipv4.ip_forward=1 && ip route add blackhole 10.66.0.0/16")
	stray := exec.Command("nsenter", "--net="+netns.Path(l.ID()+"-router"), "sleep", "1000")
	stray.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	go stray.Wait()
	h1, _ := l.Host("host1")
	ctx := context.Background()
	if err := h1.SetLink(ctx, "eth1", false); err != nil {
		t.Fatal(err)
	}
	if err := h1.Impair(ctx, "eth1", Impairment{Rate: 10_000_000, Loss: 5}); err != nil {
		t.Fatal(err)
	}
	if lookOf(t, l) == fresh {
		t.Fatal("the student's commands changed nothing nslab inspect or the daemon shows")
	}

	t0 := time.Now()
	if err := l.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("reset in %s", time.Since(t0))
	if got := lookOf(t, l); got != fresh {
		t.Errorf("after reset:\n%s\nfresh:\n%s", got, fresh)
	}
	if stray.ProcessState == nil {
		if err := syscall.Kill(stray.Process.Pid, 0); err == nil {
			t.Errorf("the process started in router (pid %d) still runs", stray.Process.Pid)
		}
	}
	if v, _ := kernel.Sysctl(netns.Path(l.ID()+"-host1"), "net.ipv4.conf.all.rp_filter"); v == "2" {
		t.Error("rp_filter still 2")
	}
	// As a shell on host1 sees its /run: what the student made is gone.
	if out := sh(t, l, "host1", "ls -d /run/netns /run/student 2>/dev/null; grep -E ' /run/(netns|student)' /proc/self/mountinfo || true"); out != "" {
		t.Errorf("host1's /run after reset:\n%s", out)
	}
	// The daemon serves as before: the same names can be used again.
	sh(t, l, "host1", "docker run -d --name cm01 busybox sleep 1000 && docker network create br1")
	if err := l.Reset(ctx); err != nil {
		t.Fatalf("second reset: %v", err)
	}
}

// After a reset a student's commands give the numbers they gave on the
// lab just up: the next network's subnet, the first ephemeral port, the
// container's address and MAC, the interface indexes of its eth0 and of
// that one's peer. hostd puts itself back in process: same pid.
func TestResetSameAsFresh(t *testing.T) {
	requireRoot(t)
	l := upLab(t, resetTopology(), Options{Hostd: realHostd(t), Resettable: true})
	h1, _ := l.Host("host1")
	pid := h1.HostdPID()
	const line = `docker network create br1 >/dev/null &&
		docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' br1 &&
		docker run -d --name c1 --network br1 -p 80 busybox sleep 1000 >/dev/null &&
		docker port c1 &&
		docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.MacAddress}}{{end}}' c1 &&
		docker exec c1 cat /sys/class/net/eth0/ifindex /sys/class/net/eth0/iflink`
	fresh := sh(t, l, "host1", line)
	for round := 1; round <= 2; round++ {
		if err := l.Reset(context.Background()); err != nil {
			t.Fatalf("reset %d: %v", round, err)
		}
		if got := sh(t, l, "host1", line); got != fresh {
			t.Errorf("after reset %d:\n%s\nafter up:\n%s", round, got, fresh)
		}
	}
	if got := h1.HostdPID(); got != pid {
		t.Errorf("hostd's pid went from %d to %d: it was started again", pid, got)
	}
}

// A lab whose daemon died cannot be reset; one brought up without
// Resettable has nothing to reset to.
func TestResetRefused(t *testing.T) {
	requireRoot(t)
	l := upLab(t, resetTopology(), Options{Hostd: realHostd(t), Resettable: true})
	h1, _ := l.Host("host1")
	pid := h1.HostdPID()
	start, _ := procStart(pid)
	syscall.Kill(pid, syscall.SIGKILL)
	if left := waitGone(context.Background(), []proc{{pid: pid, start: start}}, killGrace); len(left) > 0 {
		t.Fatalf("hostd %d outlived SIGKILL", pid)
	}
	if err := l.Reset(context.Background()); !errors.Is(err, ErrNotResettable) {
		t.Errorf("reset with hostd killed: %v, want ErrNotResettable", err)
	}
	plain := upLab(t, plainTopology(2), Options{})
	if err := plain.Reset(context.Background()); !errors.Is(err, ErrNoBaseline) {
		t.Errorf("reset without a baseline: %v, want ErrNoBaseline", err)
	}
}

// On a real dockerd, a reset after a network was made and removed
// restarts the daemon: a fresh one takes 172.18.0.0/16 again for the next
// network, where the same daemon would take 172.19.0.0/16.
func TestResetDockerd(t *testing.T) {
	t.Parallel() // waits on dockerd's starts: beside the other long tests
	requireRoot(t)
	requireDockerd(t)
	o := dockerdOptions(t)
	o.Resettable = true
	l := upLab(t, resetTopology(), o)
	fresh := lookOf(t, l)
	h1, _ := l.Host("host1")
	pid := h1.HostdPID()
	sh(t, l, "host1", "docker network create br1 && docker run -d --name cm01 --network br1 busybox sleep 1000")
	sh(t, l, "host1", "docker rm -f cm01 && docker network rm br1")
	t0 := time.Now()
	if err := l.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("reset with a restart of dockerd in %s", time.Since(t0))
	if h1.HostdPID() == pid {
		t.Error("dockerd was not restarted")
	}
	if got := lookOf(t, l); got != fresh {
		t.Errorf("after reset:\n%s\nfresh:\n%s", got, fresh)
	}
	out := sh(t, l, "host1", "docker network create br1 >/dev/null && docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' br1")
	if strings.TrimSpace(out) != "172.18.0.0/16" {
		t.Errorf("the next network after the reset got %q, want 172.18.0.0/16 as on a fresh dockerd", out)
	}
	t0 = time.Now()
	if err := l.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("second reset in %s", time.Since(t0))

	// A published port moves dockerd's ephemeral ports on, as a network
	// moves its pools: after a reset, -P takes the first of the range again.
	first := strings.Fields(sh(t, l, "host1", "sysctl -n net.ipv4.ip_local_port_range"))[0]
	port := func() string {
		return strings.TrimSpace(sh(t, l, "host1", "docker run -d -P --expose 80 --name web busybox sleep 1000 >/dev/null && docker port web 80/tcp | head -1 && docker rm -f web >/dev/null"))
	}
	if got := port(); got != "0.0.0.0:"+first {
		t.Fatalf("-P on the reset dockerd: %q, want 0.0.0.0:%s", got, first)
	}
	if err := l.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := port(); got != "0.0.0.0:"+first {
		t.Errorf("-P after a reset that followed one: %q, want 0.0.0.0:%s as on a fresh dockerd", got, first)
	}

	// Containers that took no ephemeral port move nothing a fresh dockerd
	// would hand out otherwise (a container's address is the lowest free
	// one): the reset keeps the daemon, and the lab is as fresh.
	if err := l.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	pid = h1.HostdPID()
	sh(t, l, "host1", "docker run -d --name cm01 busybox sleep 1000 && docker run -d --name cm02 -p 8080:80 busybox sleep 1000")
	t0 = time.Now()
	if err := l.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("reset without a restart of dockerd in %s", time.Since(t0))
	if h1.HostdPID() != pid {
		t.Error("dockerd was restarted after containers that took no ephemeral port")
	}
	if got := lookOf(t, l); got != fresh {
		t.Errorf("after reset:\n%s\nfresh:\n%s", got, fresh)
	}
	if out := sh(t, l, "host1", "docker run -d --name cm03 busybox sleep 1000 >/dev/null && docker inspect -f '{{.NetworkSettings.IPAddress}}' cm03"); strings.TrimSpace(out) != "172.17.0.2" {
		t.Errorf("the next container after the reset got %q, want 172.17.0.2 as on a fresh dockerd", out)
	}
}

// On a host with Open vSwitch, the bridges a student adds go with reset,
// from ovsdb-server's database and from the kernel.
func TestResetOVS(t *testing.T) {
	requireRoot(t)
	ovs, err := FindOVS()
	if err != nil {
		t.Skipf("needs Open vSwitch: %v", err)
	}
	topo := plainTopology(1)
	topo.Hosts[0].OVS = true
	l := upLab(t, topo, Options{Resettable: true})
	host := topo.Hosts[0].Name
	sh(t, l, host, ovs.vsctl+" add-br br9 -- set bridge br9 datapath_type=netdev && ip link show br9")
	if err := l.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out := sh(t, l, host, ovs.vsctl+" list-br; ip -o link show br9 2>&1 || true"); strings.Contains(out, "br9:") || !strings.Contains(out, "does not exist") {
		t.Errorf("after reset, %s still has br9:\n%s", host, out)
	}
}

// The etcd cluster's v2 tree (Docker's key space) comes back whole: keys
// made since go, a value changed comes back, a directory removed is made
// again with what it held.
func TestResetEtcd(t *testing.T) {
	requireRoot(t)
	l := upLab(t, etcdTopology(), Options{Etcd: buildEtcd(t), Resettable: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	node1 := l.etcdHosts()[0]
	c := node1.etcdClient()
	defer c.hc.CloseIdleConnections()
	put := func(key string, form url.Values) {
		t.Helper()
		if _, err := c.doForm(ctx, http.MethodPut, "/v2/keys"+key, form); err != nil {
			t.Fatal(err)
		}
	}
	put("/docker/network/v1.0/network", url.Values{"dir": {"true"}})
	put("/docker/nodes/192.168.8.150:2375", url.Values{"value": {"192.168.8.150:2375"}})
	put("/docker/a", url.Values{"value": {"1"}})
	if err := l.takeBaseline(ctx); err != nil {
		t.Fatal(err)
	}
	want, err := readEtcdKeys(ctx, node1)
	if err != nil {
		t.Fatal(err)
	}
	put("/docker/a", url.Values{"value": {"2"}})
	put("/student/x", url.Values{"value": {"y"}})
	if _, err := c.do(ctx, http.MethodDelete, "/v2/keys/docker/nodes?recursive=true", nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := readEtcdKeys(ctx, node1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.V2, want.V2) || got.V2Nodes["/docker/a"].Value != "1" {
		t.Errorf("v2 keys after reset: %v, /docker/a=%q; want %v, /docker/a=1", got.V2, got.V2Nodes["/docker/a"].Value, want.V2)
	}
}

// A global network's subnet comes from the cluster store client's own
// cursor: after a reset, an overlay network made again takes the subnet a
// fresh daemon's first one would (10.0.0.0/24), not the next.
func TestResetOverlaySameAsFresh(t *testing.T) {
	requireRoot(t)
	topo, err := LoadTopology(filepath.Join("..", "fixtures", "overlay.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	l := upLab(t, topo, Options{Hostd: realHostd(t), Etcd: buildEtcd(t), Resettable: true})
	const line = `docker network create -d overlay ov1 >/dev/null &&
		docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' ov1`
	fresh := sh(t, l, "node1", line)
	if fresh != "10.0.0.0/24\n" {
		t.Fatalf("first overlay network after up: %q, want 10.0.0.0/24", fresh)
	}
	if err := l.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := sh(t, l, "node1", line); got != fresh {
		t.Errorf("after a reset: %q, after up: %q", got, fresh)
	}
}
