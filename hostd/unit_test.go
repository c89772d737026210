package hostd

import (
	"strings"
	"testing"

	"github.com/nslab/nslab/hostd/api/types"
)

func TestValidateNetMode(t *testing.T) {
	cases := []struct {
		cfg  types.ContainerConfig
		hc   types.HostConfig
		want string
	}{
		{types.ContainerConfig{Hostname: "x"}, types.HostConfig{NetworkMode: "container:cm08"}, msgConflictNetworkHostname},
		{types.ContainerConfig{}, types.HostConfig{NetworkMode: "container:"}, "Invalid network mode: invalid container format container:<name|id>"},
		{types.ContainerConfig{}, types.HostConfig{NetworkMode: "container:cm08", DNS: []string{"1.1.1.1"}}, msgConflictNetworkAndDNS},
		{types.ContainerConfig{}, types.HostConfig{NetworkMode: "host", Links: []string{"a:b"}}, msgConflictHostNetworkAndLinks},
		{types.ContainerConfig{MacAddress: "02:42:ac:11:00:02"}, types.HostConfig{NetworkMode: "host"}, msgConflictContainerNetworkAndMac},
		{types.ContainerConfig{Hostname: "x"}, types.HostConfig{NetworkMode: "host"}, ""},
	}
	for _, c := range cases {
		err := validateNetMode(&c.cfg, &c.hc)
		if (err == nil) != (c.want == "") || (err != nil && err.Error() != c.want) {
			t.Errorf("%+v %+v: got %v, want %q", c.cfg, c.hc, err, c.want)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "HOME=/root"}, []string{"PATH=/x", "A=1"})
	if strings.Join(got, " ") != "PATH=/x HOME=/root A=1" {
		t.Fatalf("env %v", got)
	}
}

// What Docker 20.10's inspect shows of a Compose
// service (seen through `docker-compose --verbose` on a real dockerd).
func TestInspectAsDockerShowsIt(t *testing.T) {
	c := &Container{Name: "lk2", HostConfig: types.HostConfig{Links: []string{"lk1:test", "/db:/lk2/db"}}}
	if got := linksView(c); strings.Join(got, " ") != "/lk1:/lk2/test /db:/lk2/db" {
		t.Errorf("inspect Links: %q", got)
	}
	if got := linksView(&Container{Name: "lk1"}); got != nil {
		t.Errorf("inspect Links without links: %q, want null", got)
	}
	var hc types.HostConfig
	fillHostConfigDefaults(&hc)
	if hc.IpcMode != "private" || hc.CgroupnsMode != "host" || hc.OomKillDisable == nil || *hc.OomKillDisable || hc.ShmSize != 64<<20 {
		t.Errorf("create's defaults: %+v", hc)
	}
}
