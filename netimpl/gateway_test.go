package netimpl_test

import (
	"slices"
	"testing"

	"github.com/nslab/nslab/netimpl"
)

// The interfaces of a container started on several networks, as Docker
// 20.10 names them (observed with `docker create --network A`, `docker
// network connect B` ..., `docker start`, `ip a`; the same in six runs
// each): libnetwork's order of a sandbox's endpoints, not the join order.
func TestJoinOrder(t *testing.T) {
	nw := func(name string, internal bool) netimpl.Network {
		return netimpl.Network{ID: name, Name: name, Internal: internal}
	}
	for _, c := range []struct {
		why  string
		in   []netimpl.Network // dockerd's join order: bridge first
		want []string          // eth0, eth1, ...
	}{
		{"aa sorts before bridge: eth0 is aa's", []netimpl.Network{nw("bridge", false), nw("aa", false)}, []string{"aa", "bridge"}},
		{"an internal network comes after the others", []netimpl.Network{nw("ab", true), nw("aa", false)}, []string{"aa", "ab"}},
		{"Compose's web: the internal back after front", []netimpl.Network{nw("demo_back", true), nw("demo_front", false)}, []string{"demo_front", "demo_back"}},
		{"three networks", []netimpl.Network{nw("bridge", false), nw("aa", false), nw("zz", false)}, []string{"aa", "bridge", "zz"}},
		{"four networks", []netimpl.Network{nw("bridge", false), nw("aa", false), nw("ab", false), nw("zz", false)}, []string{"aa", "ab", "bridge", "zz"}},
		{"internal networks by name after the others", []netimpl.Network{nw("zi", true), nw("ai", true), nw("aa", false)}, []string{"aa", "ai", "zi"}},
		{"docker_gwbridge last", []netimpl.Network{nw(netimpl.GatewayNetwork, false), nw("ov", false)}, []string{"ov", netimpl.GatewayNetwork}},
	} {
		var got []string
		for _, n := range netimpl.JoinOrder(c.in) {
			got = append(got, n.Name)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.why, got, c.want)
		}
	}
}
