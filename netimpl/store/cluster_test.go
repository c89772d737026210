package store

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/etcdmember/etcdtest"
	"github.com/nslab/nslab/netimpl/store/internal/etcdv2"
	"github.com/nslab/nslab/netns/nstest"
	"github.com/nslab/nslab/netns/probe"
)

// host is a test docker host: a namespace with eth1 on a shared segment,
// running one etcd member as a process, the way hostd will run one.
type host struct {
	member string
	ns     string
	addr   netip.Addr
	dir    string // the member's data and log
	proc   *etcdtest.Member
}

// cluster is a two-member etcd cluster, one member on each of two hosts.
type cluster struct {
	t     *testing.T
	hosts []*host
	// opTimeout, when set, is the clients' OpTimeout instead of the
	// store's default.
	opTimeout time.Duration
}

var clusterHosts = []struct {
	member string
	addr   string
}{
	{"docker-node1", "192.168.8.150"},
	{"docker-node2", "192.168.8.148"},
}

// newCluster builds the hosts on a fabric bridge and starts a member on
// each; it returns once both have joined.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	nstest.NeedRoot(t)
	fabric := nstest.NewNS(t, prefix, "fabric")
	nstest.Bridge(t, fabric, "lan0")
	c := &cluster{t: t}
	for i, s := range clusterHosts {
		h := &host{member: s.member, ns: nstest.NewNS(t, prefix, fmt.Sprintf("node%d", i+1)),
			addr: netip.MustParseAddr(s.addr), dir: filepath.Join(t.TempDir(), s.member)}
		leg := fmt.Sprintf("n%d", i+1)
		nstest.Veth(t, fabric, leg, h.ns, "eth1")
		nstest.Enslave(t, fabric, leg, "lan0")
		nstest.Addr(t, h.ns, "eth1", s.addr+"/24")
		c.hosts = append(c.hosts, h)
	}
	// Members stop after every client has closed (cleanups run last in,
	// first out), so that the clients' Close still finds a quorum; a
	// member restarted by a test is stopped here too.
	t.Cleanup(func() {
		for _, h := range c.hosts {
			if h.proc != nil {
				if !h.proc.Stop() {
					t.Errorf("%s: member still running 10s after SIGTERM; killed", h.member)
				}
			}
		}
	})
	for _, h := range c.hosts {
		c.start(h, "new")
	}
	for _, h := range c.hosts {
		h.proc.WaitReady(t, 20*time.Second)
	}
	return c
}

// start runs nslab-etcd for h inside its namespace; the cluster's
// cleanup stops it.
func (c *cluster) start(h *host, state string) {
	c.t.Helper()
	var peers []string
	for _, o := range c.hosts {
		peers = append(peers, o.member+"="+o.addr.String())
	}
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	h.proc = etcdtest.Start(c.t, h.ns,
		"-name", h.member, "-data-dir", filepath.Join(h.dir, "data"), "-advertise", h.addr.String(),
		"-cluster", strings.Join(peers, ","), "-loopback", "-log", filepath.Join(h.dir, "etcd.log"),
		"-state", state, "-timeout", "20s", "-v2")
}

// client opens an Etcd store for host h, its connections made inside h's
// namespace, pointed at h's own member as dockerd's --cluster-store is; a
// node TTL of 0 is Docker's.
func (c *cluster) client(h *host, nodeTTL time.Duration) *Etcd {
	c.t.Helper()
	s, err := OpenEtcd(EtcdConfig{
		Endpoints:     []string{"http://" + h.addr.String() + ":2379"},
		Host:          Host{Name: strings.TrimPrefix(h.member, "docker-"), Advertise: netip.AddrPortFrom(h.addr, 2375)},
		DialContext:   dialIn(h.ns),
		NodeTTL:       nodeTTL,
		NodeHeartbeat: nodeTTL / 3,
		OpTimeout:     c.opTimeout,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { s.Close() })
	return s
}

// raw is a plain v2 client in h's namespace, to look at the keys.
func (c *cluster) raw(h *host) *etcdv2.Client {
	c.t.Helper()
	cli, err := etcdv2.New(etcdv2.Config{Endpoints: []string{"http://" + h.addr.String() + ":2379"}, DialContext: dialIn(h.ns)})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cli.Close)
	return cli
}

func dialIn(ns string) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		return probe.DialContext(ctx, ns, "tcp", addr)
	}
}
