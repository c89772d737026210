package rootns

import (
	"slices"
	"testing"
)

// A run's own labs and anything no lab names are the run's to answer
// for; another lab's or test's pins, mounts and data, and the machine's
// /tmp entries that do not carry the run's ids, are not.
func TestMine(t *testing.T) {
	owned := func(id string) bool { return id == "nsl1a2b" || id == "nsl3c4d" }
	lines := []string{
		"links: + veth12ab type=veth mac=x mtu=1500 master= up=true",
		"routes: + table=254 dst=10.0.0.0/8 gw= dev=eth0 src= proto=boot scope=universe",
		"netns: + nsl1a2b-host1",
		"netns: + nsl9999-host1",
		"netns: + kern4242-a",
		"netns: + stray",
		"mounts: + /run/netns/nsl3c4d-fabric root=net:[4026532499] type=nsfs src=nsfs",
		"mounts: + /run/netns/ht979653-h1 root=net:[4026532500] type=nsfs src=nsfs",
		"mounts: + /run/nslab/nsl1a2b/host1/mnt root=/ type=nsfs src=nsfs",
		"mounts: + /var/lib/nslab/labs/nsl8888/host1/c1/merged root=/ type=overlay src=overlay",
		"mounts: + /mnt/leak root=/ type=tmpfs src=tmpfs",
		"labdata: + nsl3c4d",
		"labdata: + nsl8888",
		"tmp: + /tmp/hostd-test-bin-459219507",
		"tmp: + /tmp/nslab-nsl1a2b-dump",
		"mounts: - /tmp/TestEtcdCommand3666308664/002/etcd707854/ns/node1.mnt root=mnt:[4026534162] type=nsfs src=nsfs",
		"mounts: + /tmp/nslab-suite-hostd-12/x root=/ type=tmpfs src=tmpfs",
		"tmp: + /tmp/nslab-suite-hostd-12",
		"mounts: - /run/netns/nslbench2828-h4cb5f6-r0c10 root=net:[4026533239] type=nsfs src=nsfs",
	}
	mine, foreign := Mine(lines, owned, "/tmp/nslab-suite-hostd-12")
	wantMine := []string{lines[0], lines[1], lines[2], lines[5], lines[6], lines[8], lines[10], lines[11], lines[14], lines[16], lines[17]}
	wantForeign := []string{lines[3], lines[4], lines[7], lines[9], lines[12], lines[13], lines[15], lines[18]}
	if !slices.Equal(mine, wantMine) {
		t.Errorf("mine:\n%q\nwant\n%q", mine, wantMine)
	}
	if !slices.Equal(foreign, wantForeign) {
		t.Errorf("foreign:\n%q\nwant\n%q", foreign, wantForeign)
	}
}
