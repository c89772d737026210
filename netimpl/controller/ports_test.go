package controller

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/portmap"
)

// A port asked on all addresses gets a [::] twin asking for the same host
// port (an ephemeral one chosen afresh), only with the proxy on; a port on
// one address gets none.
func TestWithIPv6Twins(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	specs := []portmap.Spec{
		{Proto: "tcp", HostPort: 80, ContainerPort: 80},
		{Proto: "tcp", HostIP: netip.IPv4Unspecified(), ContainerPort: 81},
		{Proto: "udp", HostIP: lo, HostPort: 53, ContainerPort: 53},
	}
	want := []portmap.Spec{
		specs[0], {Proto: "tcp", HostIP: netip.IPv6Unspecified(), HostPort: 80, ContainerPort: 80},
		specs[1], {Proto: "tcp", HostIP: netip.IPv6Unspecified(), ContainerPort: 81},
		specs[2],
	}
	if got := withIPv6Twins(specs, true); !reflect.DeepEqual(got, want) {
		t.Errorf("with the proxy:\n got %+v\nwant %+v", got, want)
	}
	if got := withIPv6Twins(specs, false); !reflect.DeepEqual(got, specs) {
		t.Errorf("without the proxy: %+v", got)
	}
}

// The mappings a container asks for come in Docker's order (by port key),
// a container range port by port onto an equal host range, a single port
// onto the first free one of a host range, -P's exposed ports on ephemeral
// host ports unless bound already (an empty binding included); bad keys
// and addresses are refused with Docker's texts.
func TestPortSpecs(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	got, err := portSpecs(PortRequest{
		Exposed: []string{"53/udp", "8080", "9000/tcp"},
		Bindings: map[string][]PortBinding{
			"80":            {{HostPort: "8000-8010"}},
			"7000-7001/tcp": {{HostIP: "127.0.0.1", HostPort: "9000"}},
			"9000/tcp":      {},
		},
		PublishAll: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []portmap.Spec{
		{Proto: "udp", ContainerPort: 53},
		{Proto: "tcp", HostIP: lo, HostPort: 9000, ContainerPort: 7000},
		{Proto: "tcp", HostIP: lo, HostPort: 9001, ContainerPort: 7001},
		{Proto: "tcp", HostPort: 8000, HostPortEnd: 8010, ContainerPort: 80},
		{Proto: "tcp", ContainerPort: 8080},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	for _, c := range []struct {
		req  PortRequest
		want string
	}{
		{PortRequest{Bindings: map[string][]PortBinding{"80/sctp": {{}}}}, "invalid proto: sctp"},
		{PortRequest{Bindings: map[string][]PortBinding{"x/tcp": {{}}}}, "invalid containerPort: x"},
		{PortRequest{Bindings: map[string][]PortBinding{"80": {{HostIP: "1.2.3"}}}}, "invalid IP address: 1.2.3"},
		{PortRequest{Bindings: map[string][]PortBinding{"80": {{HostPort: "90-80"}}}}, "invalid hostPort: 90-80"},
	} {
		_, err := portSpecs(c.req)
		if netimpl.KindOf(err) != netimpl.KindInvalid || err.Error() != c.want {
			t.Errorf("%+v: %v, want 400 %q", c.req, err, c.want)
		}
	}
}
