package api

import (
	"reflect"
	"testing"

	"github.com/nslab/nslab/hostd/api/types"
)

// /containers/json lists a published port once per host binding and an
// exposed one without a public port, sorted, which the CLI prints as
// "0.0.0.0:80->80/tcp, :::80->80/tcp, 81/tcp".
func TestSummaryPorts(t *testing.T) {
	got := summaryPorts(map[string][]types.PortBinding{
		"81/tcp": nil,
		"80/tcp": {{HostIP: "0.0.0.0", HostPort: "80"}, {HostIP: "::", HostPort: "80"}},
		"53/udp": {{HostIP: "127.0.0.1", HostPort: "5353"}},
	})
	want := []types.SummaryPort{
		{IP: "127.0.0.1", PrivatePort: 53, PublicPort: 5353, Type: "udp"},
		{IP: "0.0.0.0", PrivatePort: 80, PublicPort: 80, Type: "tcp"},
		{IP: "::", PrivatePort: 80, PublicPort: 80, Type: "tcp"},
		{PrivatePort: 81, Type: "tcp"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if got := summaryPorts(nil); got == nil || len(got) != 0 {
		t.Errorf("no ports: %#v, want an empty list (JSON [])", got)
	}
}
