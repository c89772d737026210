package etcdmember_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/nstest"
)

// host is a test "docker host": a namespace with eth1 on the shared segment.
type host struct {
	member string     // etcd member name (docker-node1...)
	ns     string     // pin path
	addr   netip.Addr // underlay address on eth1
}

// Two hosts of one segment, and a third for the 3-member case.
var clusterHosts = []struct {
	member string
	addr   netip.Addr
}{
	{"docker-node1", netip.MustParseAddr("192.168.8.150")},
	{"docker-node2", netip.MustParseAddr("192.168.8.148")},
	{"docker-node3", netip.MustParseAddr("192.168.8.151")},
}

// newHosts builds n hosts whose eth1 legs meet on a bridge in a fabric
// namespace, as the lab joins hosts into an underlay segment.
func newHosts(t testing.TB, n int) []host {
	t.Helper()
	nstest.NeedRoot(t)
	if n > len(clusterHosts) {
		t.Fatalf("at most %d hosts", len(clusterHosts))
	}
	fabric := nstest.NewNS(t, prefix, "fabric")
	h, err := netns.Handle(fabric)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	la := netlink.NewLinkAttrs()
	la.Name = "lan0"
	br := &netlink.Bridge{LinkAttrs: la}
	if err := h.LinkAdd(br); err != nil {
		t.Fatalf("fabric: bridge lan0: %v", err)
	}
	if err := h.LinkSetUp(br); err != nil {
		t.Fatal(err)
	}
	hosts := make([]host, n)
	for i := range hosts {
		hosts[i] = host{
			member: clusterHosts[i].member,
			ns:     nstest.NewNS(t, prefix, fmt.Sprintf("host%d", i+1)),
			addr:   clusterHosts[i].addr,
		}
		leg := fmt.Sprintf("h%d", i+1)
		nstest.Veth(t, fabric, leg, hosts[i].ns, "eth1")
		l, err := h.LinkByName(leg)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetMaster(l, br); err != nil {
			t.Fatalf("fabric: %s into lan0: %v", leg, err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		nstest.Addr(t, hosts[i].ns, "eth1", hosts[i].addr.String()+"/24")
	}
	return hosts
}

// programs are the test's small programs, built once per test binary.
var programs = nstest.Programs{
	Packages: []string{
		"github.com/nslab/nslab/etcdmember/internal/membermain",
		"github.com/nslab/nslab/etcdmember/internal/idlemain/bare",
		"github.com/nslab/nslab/etcdmember/internal/idlemain/client",
		"github.com/nslab/nslab/netimpl/store/internal/idlegateway",
	},
	DirPattern: "etcdmember-bin-",
}

// binary returns the path of one of the programs: membermain, bare,
// client, or the store's idlegateway.
func binary(t testing.TB, name string) string {
	t.Helper()
	return programs.Path(t, name)
}
