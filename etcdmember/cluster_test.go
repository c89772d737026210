package etcdmember_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nslab/nslab/netns/probe"
)

// startCluster starts one member per host, all at once, and waits until
// each has joined. It returns the processes and the time from the first
// start until the last member was ready.
func startCluster(t testing.TB, hosts []host, dir string, v2 bool) ([]*proc, time.Duration) {
	t.Helper()
	binary(t, "membermain") // built before the clock starts
	start := time.Now()
	procs := make([]*proc, len(hosts))
	for i, h := range hosts {
		procs[i] = startMember(t, memberSpec{self: h, cluster: hosts, dataDir: dataDir(dir, h), v2: v2})
	}
	var last time.Time
	for i, p := range procs {
		l := p.waitReady(t, 20*time.Second)
		want := fmt.Sprintf("ready http://%s:2379,http://127.0.0.1:2379", hosts[i].addr)
		if l.text != want {
			t.Fatalf("%s: said %q, want %q (ClientURLs)", p.name, l.text, want)
		}
		if l.at.After(last) {
			last = l.at
		}
	}
	return procs, last.Sub(start)
}

func dataDir(dir string, h host) string { return filepath.Join(dir, h.member, "data") }

// [E20] A two-member cluster: docker-node1 on 192.168.8.150 and docker-node2
// on 192.168.8.148, checked with Debian's etcdctl from inside host 1.
func TestTwoMemberCluster(t *testing.T) {
	hosts := newHosts(t, 2)
	procs, took := startCluster(t, hosts, t.TempDir(), true)
	t.Logf("two-member cluster ready %v after both processes started", took.Round(time.Millisecond))
	// The target, under 1.5 s, is BenchmarkClusterStart's figure: on a
	// machine shared with both suites a start takes longer now and then
	// (1.56 s in a CI run). The test only catches a start that waits for
	// something (a timeout, a retry interval), which costs seconds.
	if took > 5*time.Second {
		t.Errorf("cluster start took %v: it waits for something (BenchmarkClusterStart's target is under 1.5s)", took)
	}
	h1, h2 := hosts[0], hosts[1]
	local := "--endpoints=http://127.0.0.1:2379"

	t.Run("member list", func(t *testing.T) {
		out, err := etcdctl(t, h1.ns, local, "member", "list", "-w", "json")
		if err != nil {
			t.Fatal(err)
		}
		var list struct {
			Members []struct {
				Name       string   `json:"name"`
				PeerURLs   []string `json:"peerURLs"`
				ClientURLs []string `json:"clientURLs"`
			} `json:"members"`
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("member list -w json: %v\n%s", err, out)
		}
		got := map[string]string{}
		for _, m := range list.Members {
			got[m.Name] = strings.Join(m.PeerURLs, ",") + " " + strings.Join(m.ClientURLs, ",")
		}
		want := map[string]string{
			"docker-node1": "http://192.168.8.150:2380 http://192.168.8.150:2379",
			"docker-node2": "http://192.168.8.148:2380 http://192.168.8.148:2379",
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("members (name: peer client) = %v, want %v", got, want)
		}
		table, _ := etcdctl(t, h1.ns, local, "member", "list", "-w", "table")
		t.Logf("etcdctl member list:\n%s", table)
	})

	t.Run("endpoint health", func(t *testing.T) {
		out, err := etcdctl(t, h1.ns, local, "endpoint", "health", "--cluster", "-w", "json")
		if err != nil {
			t.Fatal(err)
		}
		var health []struct {
			Endpoint string `json:"endpoint"`
			Health   bool   `json:"health"`
			Error    string `json:"error"`
		}
		if err := json.Unmarshal([]byte(out), &health); err != nil {
			t.Fatalf("endpoint health -w json: %v\n%s", err, out)
		}
		var healthy []string
		for _, h := range health {
			if h.Health {
				healthy = append(healthy, h.Endpoint)
			} else {
				t.Errorf("%s unhealthy: %s", h.Endpoint, h.Error)
			}
		}
		slices.Sort(healthy)
		if want := []string{"http://192.168.8.148:2379", "http://192.168.8.150:2379"}; !slices.Equal(healthy, want) {
			t.Errorf("healthy endpoints %v, want %v", healthy, want)
		}
	})

	t.Run("endpoint status", func(t *testing.T) {
		out, err := etcdctl(t, h1.ns, local, "endpoint", "status", "--cluster", "-w", "json")
		if err != nil {
			t.Fatal(err)
		}
		var status []struct {
			Endpoint string
			Status   struct {
				Header struct {
					MemberID uint64 `json:"member_id"`
				} `json:"header"`
				Version string `json:"version"`
				Leader  uint64 `json:"leader"`
			}
		}
		if err := json.Unmarshal([]byte(out), &status); err != nil {
			t.Fatalf("endpoint status -w json: %v\n%s", err, out)
		}
		if len(status) != 2 {
			t.Fatalf("%d endpoints, want 2:\n%s", len(status), out)
		}
		var ids []uint64
		for _, s := range status {
			if !strings.HasPrefix(s.Status.Version, "3.5.") {
				t.Errorf("%s: version %q, want 3.5.x", s.Endpoint, s.Status.Version)
			}
			if s.Status.Leader != status[0].Status.Leader {
				t.Errorf("members disagree on the leader: %s", out)
			}
			ids = append(ids, s.Status.Header.MemberID)
		}
		if !slices.Contains(ids, status[0].Status.Leader) {
			t.Errorf("leader %x is neither member %x", status[0].Status.Leader, ids)
		}
		table, _ := etcdctl(t, h1.ns, local, "endpoint", "status", "--cluster", "-w", "table")
		t.Logf("etcdctl endpoint status --cluster:\n%s", table)
	})

	t.Run("v3 put on node1, get on node2", func(t *testing.T) {
		c1 := client(t, h1.ns, "http://192.168.8.150:2379")
		c2 := client(t, h2.ns, "http://192.168.8.148:2379")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := c1.Put(ctx, "/nslab/e20", "through docker-node1"); err != nil {
			t.Fatal(err)
		}
		resp, err := c2.Get(ctx, "/nslab/e20")
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "through docker-node1" {
			t.Fatalf("get on docker-node2: %v", resp.Kvs)
		}
		// The member's loopback listener on the other host too, with etcdctl.
		out, err := etcdctl(t, h2.ns, local, "get", "/nslab/e20", "--print-value-only")
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != "through docker-node1" {
			t.Errorf("etcdctl get on host 2: %q", out)
		}
	})

	t.Run("v2 API", func(t *testing.T) {
		// Docker 20.10's --cluster-store writes and reads through /v2/keys.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		status, body, err := probe.HTTPGet(ctx, h1.ns, "http://192.168.8.150:2379/v2/keys/", probe.Opts{})
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusOK || !strings.Contains(string(body), `"action":"get"`) {
			t.Fatalf("GET /v2/keys/ on docker-node1: %d %s", status, body)
		}
		form := url.Values{"value": {"192.168.8.150:2375"}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://192.168.8.150:2379/v2/keys/docker/nodes/node1",
			strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := (&http.Client{Transport: probe.Transport(h1.ns)}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("v2 PUT on docker-node1: %s", resp.Status)
		}
		status, body, err = probe.HTTPGet(ctx, h2.ns, "http://192.168.8.148:2379/v2/keys/docker/nodes/node1?quorum=true", probe.Opts{})
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusOK || !strings.Contains(string(body), `"value":"192.168.8.150:2375"`) {
			t.Fatalf("v2 GET on docker-node2: %d %s", status, body)
		}
		// etcd's v2 health check: the member ids follow from the names,
		// peer URLs and token, so they are the ones etcd itself derives.
		out, err := etcdctlAPI(t, h1.ns, "2", "--endpoints=http://127.0.0.1:2379", "cluster-health")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"member 55bbbb082228277b is healthy: got healthy result from http://192.168.8.150:2379",
			"member fd79a45b0c14607d is healthy: got healthy result from http://192.168.8.148:2379",
			"cluster is healthy",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("etcdctl cluster-health: no %q in\n%s", want, out)
			}
		}
		t.Logf("ETCDCTL_API=2 etcdctl cluster-health:\n%s", out)
	})

	t.Run("v3 JSON gateway", func(t *testing.T) {
		// etcd's HTTP/JSON face of the v3 API: what a small client that
		// does not link gRPC would speak. The key is the one put above.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		key := base64.StdEncoding.EncodeToString([]byte("/nslab/e20"))
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://192.168.8.148:2379/v3/kv/range",
			strings.NewReader(`{"key":"`+key+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := (&http.Client{Transport: probe.Transport(h2.ns)}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct {
			Kvs []struct{ Value []byte }
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatalf("%s: %v", resp.Status, err)
		}
		if len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "through docker-node1" {
			t.Errorf("POST /v3/kv/range on docker-node2: %s %+v", resp.Status, r)
		}
	})

	t.Run("listens where its flags say", func(t *testing.T) {
		// Peers only on the underlay address; clients also on loopback.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := probe.DialContext(ctx, h1.ns, "tcp", "127.0.0.1:2379")
		if err != nil {
			t.Fatalf("client port on loopback: %v", err)
		}
		c.Close()
		if c, err := probe.DialContext(ctx, h1.ns, "tcp", "127.0.0.1:2380"); err == nil {
			c.Close()
			t.Error("peer port answers on 127.0.0.1, want the underlay address only")
		}
	})

	t.Run("memory of a member", func(t *testing.T) {
		for _, p := range procs {
			m, err := memoryOf(p.cmd.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s (membermain, running member): %v", p.name, m)
		}
	})

	t.Run("removed member stops", func(t *testing.T) {
		// A member removed from its cluster stops on its own; Stopped and
		// Err say so, and membermain exits 1 with the reason.
		c1 := client(t, h1.ns, "http://192.168.8.150:2379")
		removeMember(t, c1, "docker-node2")
		select {
		case <-procs[1].exited:
		case <-time.After(10 * time.Second):
			t.Fatalf("docker-node2 still runs 10s after its removal\n%s", procs[1].logTail())
		}
		if code := procs[1].cmd.ProcessState.ExitCode(); code != 1 {
			t.Errorf("docker-node2 exit code %d, want 1", code)
		}
		if msg := procs[1].stderr.String(); !strings.Contains(msg, "etcd member docker-node2: server stopped on its own") {
			t.Errorf("docker-node2 stderr: %q", msg)
		}
		// docker-node1 is a cluster of one now, its own quorum.
		if _, _, err := putEventually(c1, "/nslab/alone", "1", 5*time.Second); err != nil {
			t.Fatal(err)
		}
	})
}

// removeMember removes the named member. etcd refuses while the member has
// been connected for less than its health interval (5 s), because the
// removal could break an active quorum; that refusal is retried.
func removeMember(t *testing.T, c *clientv3.Client, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := func() error {
			list, err := c.MemberList(ctx)
			if err != nil {
				return err
			}
			for _, m := range list.Members {
				if m.Name == name {
					_, err := c.MemberRemove(ctx, m.ID)
					return err
				}
			}
			return fmt.Errorf("no member %s in %v", name, list.Members)
		}()
		cancel()
		if err == nil {
			return
		}
		if !errors.Is(err, rpctypes.ErrUnhealthy) || time.Now().After(deadline) {
			t.Fatalf("remove %s: %v", name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// [E23] With two members, losing one loses the quorum: writes through the
// survivor fail fast with "no leader", and succeed again once the member
// is back with its data.
func TestQuorumLossAndRecovery(t *testing.T) {
	hosts := newHosts(t, 2)
	dir := t.TempDir()
	procs, _ := startCluster(t, hosts, dir, false)
	c1 := client(t, hosts[0].ns, "http://192.168.8.150:2379")
	if _, _, err := putEventually(c1, "/nslab/before", "1", 5*time.Second); err != nil {
		t.Fatal(err)
	}

	procs[1].kill(t)
	killed := time.Now()
	var noLeader time.Duration
	for noLeader == 0 {
		// Until the leader notices (one election timeout without answers,
		// etcd's CheckQuorum) a put is taken into its log and only times
		// out; afterwards a member with no leader refuses it at once.
		ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(context.Background()), 300*time.Millisecond)
		_, err := c1.Put(ctx, "/nslab/during", "x")
		cancel()
		switch {
		case err == nil:
			t.Fatal("put succeeded with one member of two down")
		case errors.Is(err, rpctypes.ErrNoLeader):
			noLeader = time.Since(killed)
		case time.Since(killed) > 3*time.Second:
			t.Fatalf("no %q within 3s of losing docker-node2; last error: %v", rpctypes.ErrNoLeader, err)
		default:
			t.Logf("put %v after the kill: %v", time.Since(killed).Round(time.Millisecond), err)
		}
	}
	t.Logf("a put through docker-node1 fails with %q %v after docker-node2 was killed",
		rpctypes.ErrNoLeader, noLeader.Round(time.Millisecond))

	restarted := time.Now()
	p := startMember(t, memberSpec{self: hosts[1], cluster: hosts, dataDir: dataDir(dir, hosts[1]), state: "existing"})
	p.waitReady(t, 20*time.Second)
	took, _, err := putEventually(c1, "/nslab/after", "1", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("docker-node2 restarted from its data dir: writes accepted again %v after its start (put took %v)",
		time.Since(restarted).Round(time.Millisecond), took.Round(time.Millisecond))
	c2 := client(t, hosts[1].ns, "http://192.168.8.148:2379")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c2.Get(ctx, "/nslab/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	// A put that timed out may still commit once the quorum is back: it
	// was in the leader's log already. Its outcome is unknown, not failed.
	keys = slices.DeleteFunc(keys, func(k string) bool {
		if k == "/nslab/during" {
			t.Logf("a put that timed out during the outage was committed after the recovery")
			return true
		}
		return false
	})
	if want := []string{"/nslab/after", "/nslab/before"}; !slices.Equal(keys, want) {
		t.Errorf("keys on the restarted member: %v, want %v", keys, want)
	}
}

// [E23] Three members keep accepting writes when one is down, even the leader.
func TestThreeMembersOneDown(t *testing.T) {
	hosts := newHosts(t, 3)
	procs, took := startCluster(t, hosts, t.TempDir(), false)
	t.Logf("three-member cluster ready in %v", took.Round(time.Millisecond))

	// Find the leader, then kill it: the harder loss for the other two.
	c1 := client(t, hosts[0].ns, "http://192.168.8.150:2379")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c1.Status(ctx, "http://192.168.8.150:2379")
	if err != nil {
		t.Fatal(err)
	}
	members, err := c1.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader := -1
	for _, m := range members.Members {
		if m.ID == st.Leader {
			leader = slices.IndexFunc(hosts, func(h host) bool { return h.member == m.Name })
		}
	}
	if leader < 0 {
		t.Fatalf("leader %x not among %v", st.Leader, members.Members)
	}
	survivor := hosts[(leader+1)%3]
	cs := client(t, survivor.ns, "http://"+survivor.addr.String()+":2379")

	procs[leader].kill(t)
	took, errs, err := putEventually(cs, "/nslab/three", "ok", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("leader %s killed: put through %s succeeded after %v (%d failed tries before)",
		hosts[leader].member, survivor.member, took.Round(time.Millisecond), len(errs))

	// The v2 API is off unless asked for.
	status, _, err := probe.HTTPGet(ctx, survivor.ns, "http://"+survivor.addr.String()+":2379/v2/keys/", probe.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusNotFound {
		t.Errorf("GET /v2/keys/ without EnableV2: status %d, want 404", status)
	}
}

// Start gives up when its context ends before a quorum forms and closes the
// member, and membermain then exits: alone, neither member of a pair joins.
// docker-node2 is cut short while it waits for docker-node1 (see
// waitForEarlierPeers), docker-node1 while its server waits for a quorum.
func TestStartGivesUpWithoutQuorum(t *testing.T) {
	hosts := newHosts(t, 2)
	dir := t.TempDir()
	bin := binary(t, "membermain")
	for _, h := range hosts {
		start := time.Now()
		p := startIn(t, h.ns, h.member, bin,
			"-name", h.member, "-data-dir", dataDir(dir, h), "-advertise", h.addr.String(),
			"-cluster", "docker-node1=192.168.8.150,docker-node2=192.168.8.148", "-timeout", "700ms")
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: still running 5s after a 700ms start timeout", h.member)
		}
		t.Logf("%s alone: gave up and exited %v after its start", h.member, time.Since(start).Round(time.Millisecond))
		want := "etcd member " + h.member + ": cluster not ready: context deadline exceeded"
		if code := p.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(p.stderr.String(), want) {
			t.Errorf("%s: exit %d, stderr %q; want 1 and %q", h.member, code, p.stderr.String(), want)
		}
	}
}
