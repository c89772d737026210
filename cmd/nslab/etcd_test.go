package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
)

// `nslab up --runtime dockerd` runs a real dockerd on the docker hosts,
// detached as any lab, and down removes it.
func TestUpRuntimeDockerd(t *testing.T) {
	needRoot(t)
	t.Parallel()
	if _, err := lab.FindDockerd(""); err != nil {
		t.Skip(err)
	}
	bin, root, id := freshLab(t, "rt")
	at := []string{"--root", root}
	mustNslab(t, bin, append(at, "up", "--detach", "--runtime", "dockerd", "--id", id, "../../fixtures/single.yaml")...)
	l, err := lab.Open(root, id)
	if err != nil {
		t.Fatal(err)
	}
	if l.Runtime() != lab.RuntimeDockerd {
		t.Errorf("lab runtime %q, want dockerd", l.Runtime())
	}
	pid := l.Hosts()[0].HostdPID()
	comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if strings.TrimSpace(string(comm)) != "dockerd" {
		t.Errorf("the daemon of host1 (pid %d) is %q, want dockerd", pid, comm)
	}
	seen := procsIn(id)
	mustNslab(t, bin, append(at, "down")...)
	assertGone(t, root, id, seen)
}

// `nslab etcd HOST stop|start|status` on a detached lab whose hosts are
// etcd members (plain hosts: the members need no daemon).
func TestEtcdCommand(t *testing.T) {
	needRoot(t)
	t.Setenv("NSLAB_LAB", "")
	t.Setenv("NSLAB_BIN", "")
	t.Setenv("NSLAB_ETCD_BIN", "")
	bin, root, id := freshLab(t, "etcd")
	topo := filepath.Join(t.TempDir(), "etcd.yaml")
	if err := os.WriteFile(topo, []byte(`name: etcdpair
segments:
  - name: lan0
    prefix: 192.168.8.0/24
hosts:
  - name: node1
    kind: plain
    interfaces: [{segment: lan0, address: 192.168.8.150/24}]
    etcd: {name: docker-node1}
  - name: node2
    kind: plain
    interfaces: [{segment: lan0, address: 192.168.8.148/24}]
    etcd: {name: docker-node2}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	at := []string{"--root", root}
	r := mustNslab(t, bin, append(at, "up", "--detach", "--id", id, topo)...)
	for _, want := range []string{"etcd: docker-node1 on node1 (http://192.168.8.150:2379), docker-node2 on node2 (http://192.168.8.148:2379)", "exec node1 -- etcdctl member list"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("up summary lacks %q:\n%s", want, r.stdout)
		}
	}
	if !regexp.MustCompile(`etcd: 2 members ready in \d`).MatchString(r.stderr) {
		t.Errorf("up does not report the cluster ready:\n%s", r.stderr)
	}
	status := func(host string) result { return nslab(t, bin, append(at, "etcd", host, "status")...) }
	healthy := regexp.MustCompile(`^node2: etcd member docker-node2 running \(pid \d+\), healthy; client http://192\.168\.8\.148:2379, peer http://192\.168\.8\.148:2380\n$`)
	if r := status("node2"); r.code != 0 || !healthy.MatchString(r.stdout) {
		t.Fatalf("status of a running member: %d %q", r.code, r.stdout)
	}
	mustNslab(t, bin, append(at, "etcd", "node2", "stop")...)
	if r := status("node2"); r.code != 1 || !strings.Contains(r.stdout, "docker-node2 not running") {
		t.Errorf("status of a stopped member: %d %q", r.code, r.stdout)
	}
	deadline := time.Now().Add(5 * time.Second)
	for status("node1").code == 0 {
		if time.Now().After(deadline) {
			t.Fatal("node1 still healthy 5s after its only peer stopped")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r := nslab(t, bin, append(at, "etcd", "node2", "stop")...); r.code != 1 || !strings.Contains(r.stderr, "is not running") {
		t.Errorf("stop of a stopped member: %d %q", r.code, r.stderr)
	}
	mustNslab(t, bin, append(at, "etcd", "node2", "start")...)
	if r := status("node2"); r.code != 0 {
		t.Errorf("status after start: %d %q", r.code, r.stdout)
	}
	if r := nslab(t, bin, append(at, "etcd", "nodex", "status")...); r.code != 1 || !strings.Contains(r.stderr, `no host "nodex"`) {
		t.Errorf("status of an unknown host: %d %q", r.code, r.stderr)
	}
	seen := procsIn(id)
	mustNslab(t, bin, append(at, "down")...)
	assertGone(t, root, id, seen)
}
