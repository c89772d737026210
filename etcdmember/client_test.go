package etcdmember_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/probe"
)

const etcdctlPath = "/usr/bin/etcdctl"

// etcdctl runs Debian's etcdctl (API v3) inside the namespace ns, as a
// student would with `nslab exec HOST etcdctl ...`, and returns its output.
func etcdctl(t testing.TB, ns string, args ...string) (string, error) {
	t.Helper()
	return etcdctlAPI(t, ns, "3", args...)
}

// etcdctlAPI is etcdctl with ETCDCTL_API=api: "2" gives the v2 commands
// Docker 20.10's cluster store speaks (cluster-health, ls).
func etcdctlAPI(t testing.TB, ns, api string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath(etcdctlPath); err != nil {
		t.Skipf("needs %s (Debian package etcd-client): %v", etcdctlPath, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, etcdctlPath, args...)
	// A clean environment: no proxy variables for gRPC to follow.
	cmd.Env = []string{"ETCDCTL_API=" + api, "PATH=/usr/bin:/bin"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := netns.StartIn(ns, cmd); err != nil {
		return "", err
	}
	err := cmd.Wait()
	if err != nil {
		err = fmt.Errorf("etcdctl %v: %w\n%s", args, err, out.String())
	}
	return out.String(), err
}

// client is an etcd v3 client whose connections are opened inside the
// namespace ns, so that it reaches the members as a process on that host.
func client(t testing.TB, ns string, endpoints ...string) *clientv3.Client {
	t.Helper()
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		return probe.DialContext(ctx, ns, "tcp", addr)
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(dial), grpc.WithNoProxy()},
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client in %s for %v: %v", ns, endpoints, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// putEventually retries a put (each try bounded to a second and refused at
// once by a member that knows no leader) until it succeeds or the deadline
// passes; it returns how long that took and the errors seen.
func putEventually(c *clientv3.Client, key, val string, deadline time.Duration) (time.Duration, []error, error) {
	start := time.Now()
	var seen []error
	for {
		ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(context.Background()), time.Second)
		_, err := c.Put(ctx, key, val)
		cancel()
		if err == nil {
			return time.Since(start), seen, nil
		}
		seen = append(seen, err)
		if time.Since(start) > deadline {
			return time.Since(start), seen, fmt.Errorf("put %s: no success in %s: %v", key, deadline, seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
