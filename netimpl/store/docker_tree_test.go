package store

import (
	"bufio"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/netimpl/store/internal/etcdv2"
)

// dockerTree is a tree of Docker 20.10's keys as etcdctl showed it, from
// fixtures/docker-20.10/etcd-v2-overlay.txt: the listing of
// `etcdctl ls --recursive -p /docker` and the value of each key.
type dockerTree struct {
	keys   []string
	values map[string]string
}

// readDockerTree reads the n-th tree of the fixture (from 1).
func readDockerTree(t *testing.T, n int) dockerTree {
	t.Helper()
	f, err := os.Open("../../fixtures/docker-20.10/etcd-v2-overlay.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tree := dockerTree{values: map[string]string{}}
	seen, listing, key, blank := 0, false, "", false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "$ ETCDCTL_API=2 etcdctl ls --recursive -p /docker"):
			seen++
			listing = seen == n
		case seen != n:
		case strings.HasPrefix(line, "$ ETCDCTL_API=2 etcdctl -o extended get "):
			key, blank, listing = strings.TrimPrefix(line, "$ ETCDCTL_API=2 etcdctl -o extended get "), false, false
		case listing && line != "":
			tree.keys = append(tree.keys, line)
		case line == "":
			listing, blank = false, key != ""
		case blank && key != "":
			tree.values[key], key = line, ""
		case strings.HasPrefix(line, "#"):
			key = ""
		}
	}
	if len(tree.keys) == 0 || len(tree.values) == 0 {
		t.Fatalf("no tree %d in the fixture", n)
	}
	return tree
}

// [E21] Seed 001's steps, as both hosts' daemons take them, with the ids
// Docker gave them: `docker network create -d overlay etcd_network` on
// node1, then test1 on node1 and test2 on node2 on it. The store holds the
// very tree Docker 20.10 wrote, every key and directory, and every value
// byte for byte but the nodes' (their TTL is running).
func TestEtcdDockerTree(t *testing.T) {
	docker := readDockerTree(t, 2)
	c := newCluster(t)
	s1, s2 := c.client(c.hosts[0], 0), c.client(c.hosts[1], 0)
	ctx := context.Background()
	raw := c.raw(c.hosts[0])
	// Both daemons started: their node keys and first directories.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := raw.Get(ctx, "/docker/nodes", etcdv2.GetOptions{Quorum: true})
		if err == nil && len(r.Node.Nodes) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node keys after 10s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	var network Network
	eps := map[string]Endpoint{}
	for k, v := range docker.values {
		if strings.HasPrefix(k, networkDir) {
			var err error
			if network, err = decodeNetwork([]byte(v)); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, ok := endpointIDs(k); ok {
			ep, err := decodeEndpoint(k, []byte(v))
			if err != nil {
				t.Fatal(err)
			}
			eps[ep.Name] = ep
		}
	}
	n := mustCreate(ctx, t, s1, Network{ID: network.ID, Name: network.Name, Created: network.Created})
	// The hosts' docker_gwbridge: local networks, whose endpoint
	// directories the containers' joins make.
	var gwbridges []string
	for _, k := range docker.keys {
		if id, ok := strings.CutPrefix(k, endpointDir); ok && strings.HasSuffix(id, "/") && strings.Count(id, "/") == 1 && id != n.ID+"/" {
			gwbridges = append(gwbridges, strings.TrimSuffix(id, "/"))
		}
	}
	if len(gwbridges) != 2 {
		t.Fatalf("the fixture's local networks: %v, want the two docker_gwbridge", gwbridges)
	}
	for i, run := range []struct {
		s    *Etcd
		name string
	}{{s1, "test1"}, {s2, "test2"}} {
		ep := eps[run.name]
		if _, err := run.s.EnsureVNI(ctx, n.ID); err != nil {
			t.Fatal(err)
		}
		p, err := run.s.AllocateAddress(ctx, n.ID, ep.Addr.Addr())
		if err != nil || p != ep.Addr {
			t.Fatalf("%s: address %v %v, want %s", run.name, p, err, ep.Addr)
		}
		if err := run.s.PutEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
		if err := run.s.EnsureEndpointDirs(ctx, gwbridges[i]); err != nil {
			t.Fatal(err)
		}
	}

	r, err := raw.Get(ctx, "/docker", etcdv2.GetOptions{Recursive: true, Sorted: true, Quorum: true})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	values := map[string]string{}
	var walk func(n *etcdv2.Node)
	walk = func(n *etcdv2.Node) {
		for _, c := range n.Nodes {
			if c.Dir {
				keys = append(keys, c.Key+"/")
				walk(c)
				continue
			}
			keys = append(keys, c.Key)
			values[c.Key] = c.Value
		}
	}
	walk(r.Node)
	slices.Sort(keys)
	if !slices.Equal(keys, docker.keys) {
		t.Errorf("keys under /docker:\n%s\nwant Docker's\n%s", strings.Join(keys, "\n"), strings.Join(docker.keys, "\n"))
	}
	same := 0
	for k, want := range docker.values {
		if got := values[k]; got != want && !strings.HasPrefix(k, nodeDir) {
			t.Errorf("%s:\n%s\nwant Docker's\n%s", k, got, want)
		} else if got == want {
			same++
		}
	}
	t.Logf("%d keys and directories as Docker's; %d of its %d values byte for byte", len(keys), same, len(docker.values))
}
