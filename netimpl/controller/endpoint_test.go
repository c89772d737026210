package controller

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/nslab/nslab/netimpl"
)

// Docker refuses addresses and aliases on its own networks and an --ip
// that is not IPv4, with its texts; a user-defined network's endpoint
// gets the container's short id as an alias, once; --mac-address is read.
func TestEndpointConfig(t *testing.T) {
	for _, c := range []struct {
		network string
		cfg     EndpointConfig
		want    string
	}{
		{"bridge", EndpointConfig{IPv4Address: "172.17.0.9"}, msgUnsupportedNetworkAndIP},
		{"host", EndpointConfig{LinkLocalIPs: []string{"169.254.0.1"}}, msgUnsupportedNetworkAndIP},
		{"none", EndpointConfig{Aliases: []string{"a"}}, msgUnsupportedNetworkAndAlias},
		{"br1", EndpointConfig{IPv4Address: "fd00::1"}, "invalid IPv4 address: fd00::1"},
		{"br1", EndpointConfig{IPv4Address: "10.0.0"}, "invalid IPv4 address: 10.0.0"},
		{"br1", EndpointConfig{MacAddress: "02:42"}, "02:42 is not a valid mac address"},
	} {
		_, err := endpointSpec("0123456789abcdef", "web", c.network, c.cfg)
		if netimpl.KindOf(err) != netimpl.KindInvalid || err.Error() != c.want {
			t.Errorf("%s %+v: %v, want 400 %q", c.network, c.cfg, err, c.want)
		}
	}
	spec, err := endpointSpec("0123456789abcdef", "web", "br1", EndpointConfig{Aliases: []string{"w", "0123456789ab"}, IPv4Address: "::ffff:10.0.0.9", MacAddress: "02:42:0a:00:00:09"})
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "web" || !slices.Equal(spec.Aliases, []string{"w", "0123456789ab"}) || spec.IPv4 != netip.MustParseAddr("10.0.0.9") || spec.MAC.String() != "02:42:0a:00:00:09" {
		t.Errorf("spec %+v", spec)
	}
	spec, err = endpointSpec("0123456789abcdef", "web", "br1", EndpointConfig{Aliases: []string{"w"}})
	if err != nil || !slices.Equal(spec.Aliases, []string{"w", "0123456789ab"}) {
		t.Errorf("short id alias: %+v %v", spec.Aliases, err)
	}
	if spec, err := endpointSpec("0123456789abcdef", "web", "bridge", EndpointConfig{}); err != nil || spec.Aliases != nil {
		t.Errorf("the default bridge has no aliases: %+v %v", spec.Aliases, err)
	}
}

// dockerd joins the default bridge first, then the other networks (sorted
// here, where dockerd takes its map's order).
func TestJoinOrder(t *testing.T) {
	got := joinOrder(map[string]EndpointConfig{"zz": {}, "bridge": {}, "aa": {}})
	if !slices.Equal(got, []string{"bridge", "aa", "zz"}) {
		t.Errorf("got %v", got)
	}
}

// Inspect shows what IPAM allocated when the user configured nothing, and
// an overlay network without the VNI the store handed its driver.
func TestShownNetwork(t *testing.T) {
	n := shown(netimpl.Network{
		Driver: "overlay", Options: map[string]string{"com.docker.network.driver.overlay.vxlanid_list": "4097", "o": "v"},
		Pools: []netimpl.AddressPool{{Subnet: netip.MustParsePrefix("10.0.9.0/24"), Gateway: netip.MustParseAddr("10.0.9.1")}},
	})
	if len(n.IPAM.Config) != 1 || n.IPAM.Config[0].Subnet != "10.0.9.0/24" || n.IPAM.Config[0].Gateway != "10.0.9.1" {
		t.Errorf("IPAM %+v", n.IPAM)
	}
	if len(n.Options) != 1 || n.Options["o"] != "v" {
		t.Errorf("options %v", n.Options)
	}
	user := shown(netimpl.Network{IPAM: netimpl.IPAM{Config: []netimpl.IPAMPool{{Subnet: "10.1.0.0/16"}}}, Pools: n.Pools})
	if len(user.IPAM.Config) != 1 || user.IPAM.Config[0].Subnet != "10.1.0.0/16" {
		t.Errorf("the user's configuration is shown as given: %+v", user.IPAM)
	}
}
