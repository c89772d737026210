package etcdmember

import (
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/nstest"
)

var (
	node1 = netip.MustParseAddr("192.168.8.150")
	node2 = netip.MustParseAddr("192.168.8.148")
)

// node1Config is docker-node1's configuration in a two-member cluster.
func node1Config(dir string) Config {
	return Config{
		Name:           "docker-node1",
		DataDir:        dir,
		Advertise:      node1,
		Loopback:       true,
		InitialCluster: map[string]netip.Addr{"docker-node1": node1, "docker-node2": node2},
	}
}

// The embedded server gets exactly the flags of etcd's command line for
// the member.
func TestEmbedConfigIsTheCommandLine(t *testing.T) {
	c := node1Config("/run/nslab/x/host1/etcd").withDefaults()
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	ec := c.embed()
	got := map[string]string{
		"name":                        ec.Name,
		"data-dir":                    ec.Dir,
		"listen-peer-urls":            urls(ec.ListenPeerUrls),
		"initial-advertise-peer-urls": urls(ec.AdvertisePeerUrls),
		"listen-client-urls":          urls(ec.ListenClientUrls),
		"advertise-client-urls":       urls(ec.AdvertiseClientUrls),
		"initial-cluster":             ec.InitialCluster,
		"initial-cluster-token":       ec.InitialClusterToken,
		"initial-cluster-state":       ec.ClusterState,
	}
	want := map[string]string{
		"name":                        "docker-node1",
		"data-dir":                    "/run/nslab/x/host1/etcd",
		"listen-peer-urls":            "http://192.168.8.150:2380",
		"initial-advertise-peer-urls": "http://192.168.8.150:2380",
		"listen-client-urls":          "http://192.168.8.150:2379,http://127.0.0.1:2379",
		"advertise-client-urls":       "http://192.168.8.150:2379",
		"initial-cluster":             "docker-node1=http://192.168.8.150:2380,docker-node2=http://192.168.8.148:2380",
		"initial-cluster-token":       "etcd-cluster",
		"initial-cluster-state":       "new",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("--%s = %q, want %q", k, got[k], w)
		}
	}
	if ec.TickMs != DefaultTickMs || ec.ElectionMs != DefaultElectionMs || ec.EnableV2 {
		t.Errorf("tick %d election %d v2 %v, want the defaults", ec.TickMs, ec.ElectionMs, ec.EnableV2)
	}
	if err := ec.Validate(); err != nil {
		t.Errorf("etcd rejects the translation: %v", err)
	}
}

func urls(us []url.URL) string {
	var s []string
	for _, u := range us {
		s = append(s, u.String())
	}
	return strings.Join(s, ",")
}

func TestIPv6AndPorts(t *testing.T) {
	a := netip.MustParseAddr("fd00::1")
	c := Config{Name: "n1", DataDir: "/d", Advertise: a, ClientPort: 12379, PeerPort: 12380,
		InitialCluster: map[string]netip.Addr{"n1": a}}.withDefaults()
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	ec := c.embed()
	if got := urls(ec.ListenPeerUrls); got != "http://[fd00::1]:12380" {
		t.Errorf("peer %s", got)
	}
	if got := ec.InitialCluster; got != "n1=http://[fd00::1]:12380" {
		t.Errorf("initial cluster %s", got)
	}
	if got := urls(ec.ListenClientUrls); got != "http://[fd00::1]:12379" {
		t.Errorf("client %s (no Loopback)", got)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no name", func(c *Config) { c.Name = "" }, `member name ""`},
		{"name with space", func(c *Config) { c.Name = "docker node1" }, `member name "docker node1"`},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data dir is empty"},
		{"no address", func(c *Config) { c.Advertise = netip.Addr{} }, "advertise address"},
		{"unspecified address", func(c *Config) { c.Advertise = netip.IPv4Unspecified() }, "advertise address"},
		{"port out of range", func(c *Config) { c.PeerPort = 70000 }, "peer port 70000 out of range"},
		{"same ports", func(c *Config) { c.ClientPort = 2380 }, "client and peer port are both 2380"},
		{"not in cluster", func(c *Config) { delete(c.InitialCluster, "docker-node1") }, "not in its initial cluster docker-node2=http://192.168.8.148:2380"},
		{"cluster disagrees", func(c *Config) { c.Advertise = node2 }, "initial cluster gives it 192.168.8.150, but it advertises 192.168.8.148"},
		{"shared address", func(c *Config) { c.InitialCluster["docker-node3"] = node2 }, "share address 192.168.8.148"},
		{"empty cluster", func(c *Config) { c.InitialCluster = nil }, "initial cluster is empty"},
		{"bad state", func(c *Config) { c.State = "old" }, `state "old"`},
		{"bad token", func(c *Config) { c.Token = "a,b" }, `token "a,b"`},
		{"election too short", func(c *Config) { c.TickMs, c.ElectionMs = 100, 400 }, "under 5 ticks"},
		{"election too long", func(c *Config) { c.ElectionMs = 60000 }, "over 50 s"},
		{"loopback twice", func(c *Config) {
			c.Advertise = netip.MustParseAddr("127.0.0.1")
			c.InitialCluster = map[string]netip.Addr{"docker-node1": c.Advertise}
		}, "loopback address already"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := node1Config("/d")
			tc.change(&c)
			err := c.withDefaults().validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if err := node1Config("/d").withDefaults().validate(); err != nil {
		t.Fatalf("docker-node1 config: %v", err)
	}
}

// Bad input is refused before anything is opened or created. Launch runs
// in a fresh, empty namespace all the same: were the config accepted, no
// socket would be opened where the machine's own addresses live.
func TestLaunchRefusesBadConfigAndTouchesNothing(t *testing.T) {
	nstest.NeedRoot(t)
	dir := filepath.Join(t.TempDir(), "etcd")
	c := node1Config(dir)
	c.State = "old"
	var m *Member
	var err error
	if ferr := netns.DoFresh(func() error { m, err = Launch(c); return nil }); ferr != nil {
		t.Fatal(ferr)
	}
	if err == nil {
		m.Close()
		t.Fatal("Launch accepted state \"old\"")
	}
	if !strings.HasPrefix(err.Error(), "etcd member docker-node1: ") {
		t.Errorf("error %q does not name the member", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data dir created for a refused config: %v", err)
	}
}
