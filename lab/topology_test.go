package lab

import (
	"archive/tar"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nslab/nslab/internal/rootns"
)

// Each bad fixture must be rejected with FILE:LINE: FIELD: and a message
// that says what is wrong.
func TestInvalidFixtures(t *testing.T) {
	cases := []struct {
		file string
		want string // "LINE: FIELD: message fragment", after "FILE:"
	}{
		{"unknown-field.yaml", "8: hosts[0].interfaces[0].adress: unknown field"},
		{"unknown-segment.yaml", `7: hosts[0].interfaces[0].segment: unknown segment "lan1"`},
		{"duplicate-host.yaml", "7: hosts[1].name: duplicate host name host1 (also hosts[0])"},
		{"duplicate-segment.yaml", "4: segments[1].name: duplicate segment name lan0"},
		{"duplicate-interface.yaml", "9: hosts[0].interfaces[1].name: duplicate interface name eth1 in host host1 (also hosts[0].interfaces[0])"},
		{"duplicate-address.yaml", "12: hosts[1].interfaces[0].address: duplicate address 192.168.8.10 (also hosts[0].interfaces[0].address)"},
		{"address-outside.yaml", "14: hosts[1].interfaces[0].address: 10.0.0.5/24 is not inside segment lan0 (192.168.8.0/24)"},
		{"address-not-cidr.yaml", `8: hosts[0].interfaces[0].address: "192.168.8.10" is not an address in CIDR form`},
		{"prefix-not-cidr.yaml", `3: segments[0].prefix: "192.168.8.0/33" is not a CIDR prefix`},
		{"overlapping-segments.yaml", "5: segments[1].prefix: 192.168.8.0/24 overlaps segment lan0 (192.168.0.0/16)"},
		{"long-interface-name.yaml", `8: hosts[0].interfaces[0].name: interface name "underlay-eth0001" is 16 bytes; Linux allows at most 15`},
		{"long-segment-name.yaml", `2: segments[0].name: segment name "classroom-lan-01" is 16 bytes`},
		{"bad-host-name.yaml", `5: hosts[0].name: host name "Host_1" must match`},
		{"gateway-off-link.yaml", "11: hosts[0].routes[0].via: gateway 192.168.9.1 is not on-link"},
		{"unknown-kind.yaml", `6: hosts[0].kind: unknown kind "vm"`},
		{"containers-on-plain.yaml", "7: hosts[0].containers: host router is plain and runs no daemon"},
		{"unknown-container.yaml", "10: hosts[0].containers[1].network: container:cm02 names no container of host host1"},
		{"not-yaml.yaml", "5: not valid YAML: mapping values are not allowed in this context"},
		{"dns-outside.yaml", "9: hosts[0].dns[0]: resolver 8.8.8.8 is not a lab address"},
		{"etcd-duplicate-member.yaml", "15: hosts[1].etcd.name: duplicate etcd member name docker-node1 (also hosts[0].etcd.name)"},
		{"cluster-store-not-member.yaml", `16: hosts[1].cluster_store: "etcd://192.168.8.148:2379": 192.168.8.148 is no etcd member's address (members: docker-node1 192.168.8.150)`},
		{"cluster-advertise-foreign.yaml", "11: hosts[0].cluster_advertise: 192.168.8.148 is not an address of host node1"},
		{"image-missing.yaml", "6: images[0]: "},
		{"segment-named-all.yaml", `4: segments[0].name: segment name "all" is reserved by Linux: /proc/sys/net/ipv4/conf/all holds the settings of every link`},
		{"bridge-overlaps-segment.yaml", "10: hosts[0].bridge: docker0's subnet 172.18.0.0/16 overlaps segment lan0 (172.18.0.0/24), on which host node1 has interface eth1"},
		{"bridge-holds-route.yaml", "14: hosts[0].bridge: docker0's subnet 172.18.0.0/16 holds the destination of hosts[0].routes[0] (172.18.0.0/16 via 192.168.99.102)"},
		{"api-foreign-address.yaml", "11: hosts[0].api[1]: 192.168.8.148 is not an address of host node1"},
		{"api-on-plain.yaml", "11: hosts[0].api: host router is plain and runs no daemon; api needs kind docker"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "fixtures", "invalid", c.file))
			if err != nil {
				t.Fatal(err)
			}
			topo, err := ParseTopology(c.file, data)
			if err == nil {
				t.Fatalf("accepted: %+v", topo)
			}
			want := c.file + ":" + c.want
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error\n%s\ndoes not contain\n%s", err, want)
			}
		})
	}
}

// Problems not worth a file of their own, each checked for line and field.
func TestInvalidInline(t *testing.T) {
	const seg = "segments:\n  - name: lan0\n    prefix: 192.168.8.0/24\n"
	cases := []struct {
		name, yaml, want string
	}{
		{"empty file", "", "x.yaml:1: empty file"},
		{"two documents", seg + "hosts: [{name: a}]\n---\nname: b\n", "x.yaml:5: a topology file holds one YAML document"},
		{"no hosts", seg, "x.yaml:1: hosts: a topology needs at least one host"},
		{"top level list", "- a\n", "x.yaml:1: (top level): must be a mapping"},
		{"field given twice", seg + "hosts:\n  - name: a\n    name: b\n", "x.yaml:6: hosts[0].name: given twice (first at line 5)"},
		{"segments not a list", "segments: lan0\nhosts: [{name: a}]\n", "x.yaml:1: segments: must be a list"},
		{"missing prefix", "segments:\n  - name: lan0\nhosts: [{name: a}]\n", "x.yaml:2: segments[0].prefix: required"},
		{"missing host name", seg + "hosts:\n  - kind: plain\n", "x.yaml:5: hosts[0].name: required"},
		{"prefix not a network", "segments:\n  - name: lan0\n    prefix: 192.168.8.1/24\nhosts: [{name: a}]\n", "x.yaml:3: segments[0].prefix: 192.168.8.1/24 is not a network prefix (did you mean 192.168.8.0/24?)"},
		{"ipv6 segment", "segments:\n  - name: lan0\n    prefix: fd00::/64\nhosts: [{name: a}]\n", "x.yaml:3: segments[0].prefix: fd00::/64: only IPv4 segments are supported"},
		{"segment name charset", "segments:\n  - name: lan/0\n    prefix: 10.0.0.0/24\nhosts: [{name: a}]\n", `x.yaml:2: segments[0].name: segment name "lan/0" may hold only`},
		{"forwarding not bool", seg + "hosts:\n  - name: a\n    forwarding: yes please\n", `x.yaml:6: hosts[0].forwarding: must be true or false, not "yes please"`},
		{"host name too long", seg + "hosts:\n  - name: " + strings.Repeat("a", 33) + "\n", "x.yaml:5: hosts[0].name: host name \"" + strings.Repeat("a", 33) + "\" is 33 bytes; at most 32"},
		{"host named fabric", seg + "hosts:\n  - name: fabric\n", "x.yaml:5: hosts[0].name: host name fabric would share its namespace name with the lab's fabric"},
		{"segment named default", "segments:\n  - name: default\n    prefix: 10.0.0.0/24\nhosts: [{name: a}]\n", `x.yaml:2: segments[0].name: segment name "default" is reserved by Linux`},
		{"segment named lo", "segments:\n  - name: lo\n    prefix: 10.0.0.0/24\nhosts: [{name: a}]\n", "x.yaml:2: segments[0].name: lo is the fabric namespace's loopback"},
		{"segment named like a leg", "segments:\n  - name: h1i0\n    prefix: 10.0.0.0/24\nhosts: [{name: a}]\n", "x.yaml:2: segments[0].name: segment name h1i0 has the form of the lab's own links in the fabric"},
		{"segment named like a chained bridge", "segments:\n  - name: s0b1\n    prefix: 10.0.0.0/24\nhosts: [{name: a}]\n", "x.yaml:2: segments[0].name: segment name s0b1 has the form"},
		{"interface named default", seg + "hosts:\n  - name: a\n    interfaces:\n      - segment: lan0\n        name: default\n", `x.yaml:8: hosts[0].interfaces[0].name: interface name "default" is reserved by Linux`},
		{"bridge inside a segment", seg + "hosts:\n  - name: a\n    interfaces: [{segment: lan0, address: 192.168.8.2/24}]\n    bridge: 192.168.8.129/25\n", "x.yaml:7: hosts[0].bridge: docker0's subnet 192.168.8.128/25 overlaps segment lan0 (192.168.8.0/24)"},
		{"interface lo", seg + "hosts:\n  - name: a\n    interfaces:\n      - segment: lan0\n        name: lo\n", "x.yaml:8: hosts[0].interfaces[0].name: lo is the host's loopback"},
		{"missing segment", seg + "hosts:\n  - name: a\n    interfaces:\n      - name: eth1\n", "x.yaml:7: hosts[0].interfaces[0].segment: required"},
		{"network address", seg + "hosts:\n  - name: a\n    interfaces:\n      - segment: lan0\n        address: 192.168.8.0/24\n", "x.yaml:8: hosts[0].interfaces[0].address: 192.168.8.0/24 is the network or broadcast address of segment lan0"},
		{"broadcast address", seg + "hosts:\n  - name: a\n    interfaces:\n      - segment: lan0\n        address: 192.168.8.255/24\n", "x.yaml:8: hosts[0].interfaces[0].address: 192.168.8.255/24 is the network or broadcast address"},
		{"bad mac", seg + "hosts:\n  - name: a\n    interfaces:\n      - segment: lan0\n        mac: 02:00:00:00:00\n", `x.yaml:8: hosts[0].interfaces[0].mac: "02:00:00:00:00" is not an Ethernet MAC address`},
		{"multicast mac", seg + "hosts:\n  - name: a\n    interfaces:\n      - segment: lan0\n        mac: 01:00:5e:00:00:01\n", "x.yaml:8: hosts[0].interfaces[0].mac: 01:00:5e:00:00:01 is a multicast address"},
		{"duplicate mac", seg + "hosts:\n  - name: a\n    interfaces:\n      - segment: lan0\n        mac: 02:00:00:00:00:01\n  - name: b\n    interfaces:\n      - segment: lan0\n        mac: 02:00:00:00:00:01\n", "x.yaml:12: hosts[1].interfaces[0].mac: duplicate MAC 02:00:00:00:00:01 (also hosts[0].interfaces[0].mac)"},
		{"route to host bits", seg + "hosts:\n  - name: a\n    interfaces:\n      - segment: lan0\n        address: 192.168.8.2/24\n    routes:\n      - to: 10.1.2.3/8\n        via: 192.168.8.1\n", "x.yaml:10: hosts[0].routes[0].to: 10.1.2.3/8 is not a network prefix (did you mean 10.0.0.0/8?)"},
		{"route to not cidr", seg + "hosts:\n  - name: a\n    interfaces:\n      - segment: lan0\n        address: 192.168.8.2/24\n    routes:\n      - to: somewhere\n        via: 192.168.8.1\n", `x.yaml:10: hosts[0].routes[0].to: "somewhere" is not a CIDR prefix`},
		{"duplicate route", seg + "hosts:\n  - name: a\n    interfaces:\n      - segment: lan0\n        address: 192.168.8.2/24\n    routes:\n      - {to: default, via: 192.168.8.1}\n      - {to: 0.0.0.0/0, via: 192.168.8.3}\n", "x.yaml:11: hosts[0].routes[1].to: duplicate route to 0.0.0.0/0 (also hosts[0].routes[0])"},
		{"gateway is own address", seg + "hosts:\n  - name: a\n    interfaces:\n      - segment: lan0\n        address: 192.168.8.2/24\n    routes:\n      - {to: default, via: 192.168.8.2}\n", "x.yaml:10: hosts[0].routes[0].via: gateway 192.168.8.2 is not on-link"},
		{"gateway not an address", seg + "hosts:\n  - name: a\n    routes:\n      - to: default\n        via: router\n", `x.yaml:8: hosts[0].routes[0].via: "router" is not an IP address`},
		{"missing via", seg + "hosts:\n  - name: a\n    routes:\n      - to: default\n", "x.yaml:7: hosts[0].routes[0].via: required"},
		{"container shares itself", seg + "hosts:\n  - name: a\n    containers:\n      - name: c1\n        network: container:c1\n", "x.yaml:8: hosts[0].containers[0].network: container c1 cannot share its own network namespace"},
		{"container cycle", seg + "hosts:\n  - name: a\n    containers:\n      - name: c1\n        network: container:c2\n      - name: c2\n        network: container:c1\n", "x.yaml:8: hosts[0].containers[0].network: containers of host a share namespaces in a cycle"},
		{"duplicate container", seg + "hosts:\n  - name: a\n    containers:\n      - name: c1\n      - name: c1\n", "x.yaml:8: hosts[0].containers[1].name: duplicate container name c1 in host a"},
		{"container pin clash", seg + "hosts:\n  - name: a-b\n  - name: a\n    containers:\n      - name: b\n", "x.yaml:8: hosts[1].containers[0].name: container b of host a would share its namespace name a-b with host a-b"},
		{"bad network", seg + "hosts:\n  - name: a\n    containers:\n      - name: c1\n        network: 'my net'\n", `x.yaml:8: hosts[0].containers[0].network: network "my net": want none, host, bridge`},
		{"command not a list", seg + "hosts:\n  - name: a\n    containers:\n      - name: c1\n        command: sleep infinity\n", "x.yaml:8: hosts[0].containers[0].command: must be a list"},
		{"etcd member name", seg + "hosts:\n  - name: a\n    interfaces: [{segment: lan0, address: 192.168.8.2/24}]\n    etcd: {name: 'docker node1'}\n", `x.yaml:7: hosts[0].etcd.name: member name "docker node1": want letters`},
		{"etcd member without name", seg + "hosts:\n  - name: a\n    interfaces: [{segment: lan0, address: 192.168.8.2/24}]\n    etcd: {address: 192.168.8.2}\n", "x.yaml:7: hosts[0].etcd.name: required"},
		{"etcd member without address", seg + "hosts:\n  - name: a\n    etcd: {name: m1}\n", "x.yaml:6: hosts[0].etcd: host a has no interface address for its etcd member"},
		{"etcd member foreign address", seg + "hosts:\n  - name: a\n    interfaces: [{segment: lan0, address: 192.168.8.2/24}]\n    etcd:\n      name: m1\n      address: 192.168.8.3\n", "x.yaml:9: hosts[0].etcd.address: 192.168.8.3 is not an address of host a"},
		{"etcd settings without members", seg + "etcd: {token: t}\nhosts: [{name: a}]\n", "x.yaml:4: etcd: cluster settings, but no host is an etcd member"},
		{"etcd election too short", seg + "etcd:\n  tick_ms: 100\n  election_ms: 200\nhosts:\n  - name: a\n    interfaces: [{segment: lan0, address: 192.168.8.2/24}]\n    etcd: {name: m1}\n", "x.yaml:6: etcd.election_ms: election timeout 200 ms is under 5 heartbeats of 100 ms"},
		{"etcd tick not a number", seg + "etcd: {tick_ms: fast}\nhosts: [{name: a}]\n", `x.yaml:4: etcd.tick_ms: must be a positive whole number of milliseconds, not "fast"`},
		{"etcd token with comma", seg + "etcd: {token: 'a,b'}\nhosts:\n  - name: a\n    interfaces: [{segment: lan0, address: 192.168.8.2/24}]\n    etcd: {name: m1}\n", `x.yaml:4: etcd.token: token "a,b": want one word`},
		{"cluster store not etcd", seg + "hosts:\n  - name: a\n    interfaces: [{segment: lan0, address: 192.168.8.2/24}]\n    etcd: {name: m1}\n    cluster_store: consul://192.168.8.2:8500\n    cluster_advertise: 192.168.8.2:2375\n", `x.yaml:8: hosts[0].cluster_store: "consul://192.168.8.2:8500": want etcd://IP:2379`},
		{"cluster store port", seg + "hosts:\n  - name: a\n    interfaces: [{segment: lan0, address: 192.168.8.2/24}]\n    etcd: {name: m1}\n    cluster_store: etcd://192.168.8.2:4001\n    cluster_advertise: 192.168.8.2:2375\n", `x.yaml:8: hosts[0].cluster_store: "etcd://192.168.8.2:4001": etcd members serve clients on port 2379, not 4001`},
		{"cluster store loopback of no member", seg + "hosts:\n  - name: a\n    interfaces: [{segment: lan0, address: 192.168.8.2/24}]\n    cluster_store: etcd://127.0.0.1:2379\n    cluster_advertise: 192.168.8.2:2375\n", `x.yaml:7: hosts[0].cluster_store: "etcd://127.0.0.1:2379": host a is no etcd member`},
		{"cluster store without advertise", seg + "hosts:\n  - name: a\n    interfaces: [{segment: lan0, address: 192.168.8.2/24}]\n    etcd: {name: m1}\n    cluster_store: etcd://192.168.8.2:2379\n", "x.yaml:5: hosts[0].cluster_advertise: required with cluster_store"},
		{"cluster advertise not ip:port", seg + "hosts:\n  - name: a\n    interfaces: [{segment: lan0, address: 192.168.8.2/24}]\n    etcd: {name: m1}\n    cluster_store: etcd://192.168.8.2:2379\n    cluster_advertise: eth1\n", `x.yaml:9: hosts[0].cluster_advertise: "eth1": want IP:PORT`},
		{"cluster store on plain host", seg + "hosts:\n  - name: a\n    kind: plain\n    interfaces: [{segment: lan0, address: 192.168.8.2/24}]\n    etcd: {name: m1}\n    cluster_store: etcd://192.168.8.2:2379\n    cluster_advertise: 192.168.8.2:2375\n", "x.yaml:9: hosts[0].cluster_store: host a is plain and runs no daemon"},
		{"image not an archive", seg + "images: [topology.go]\nhosts: [{name: a}]\n", "x.yaml:4: images[0]: "},
		{"images not a list", seg + "images: app.tar\nhosts: [{name: a}]\n", "x.yaml:4: images: must be a list"},
		{"unknown container field", seg + "hosts:\n  - name: a\n    containers:\n      - name: c1\n        ports: [80]\n", "x.yaml:8: hosts[0].containers[0].ports: unknown field (known: command, image, name, network)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			topo, err := ParseTopology("x.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatalf("accepted: %+v", topo)
			}
			var te *TopologyError
			if !errors.As(err, &te) || len(te.Problems) == 0 {
				t.Fatalf("want a *TopologyError, got %T %v", err, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error\n%s\ndoes not contain\n%s", err, c.want)
			}
		})
	}
}

// A topology's archives are named relative to its file and checked to be
// archives before anything exists.
func TestTopologyImages(t *testing.T) {
	dir := t.TempDir()
	var tb strings.Builder
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: 2})
	tw.Write([]byte("[]"))
	tw.Close()
	if err := os.WriteFile(filepath.Join(dir, "app.tar"), []byte(tb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "lab.yaml")
	topo, err := ParseTopology(file, []byte("images: [app.tar]\nhosts: [{name: a}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(dir, "app.tar")}; !reflect.DeepEqual(topo.Images, want) {
		t.Errorf("images %v, want %v", topo.Images, want)
	}
	_, err = ParseTopology(file, []byte("images: [notes.txt]\nhosts: [{name: a}]\n"))
	if err == nil || !strings.Contains(err.Error(), "lab.yaml:1: images[0]: "+filepath.Join(dir, "notes.txt")+": want a `docker save` archive: not a tar archive") {
		t.Errorf("a text file as an archive: %v", err)
	}
}

// The suites' leftover check looks where labs keep their data.
func TestDataRootChecked(t *testing.T) {
	if rootns.LabDataRoot != DefaultDataRoot {
		t.Fatalf("rootns checks %s, labs use %s", rootns.LabDataRoot, DefaultDataRoot)
	}
}

// Every problem of a file is reported, not only the first.
func TestAllProblemsReported(t *testing.T) {
	y := `segments:
  - name: lan0
    prefix: 192.168.8.0/24
hosts:
  - name: a
    kind: vm
    interfaces:
      - segment: lan9
  - name: a
`
	_, err := ParseTopology("x.yaml", []byte(y))
	var te *TopologyError
	if !errors.As(err, &te) {
		t.Fatalf("want a *TopologyError, got %v", err)
	}
	want := []string{
		`x.yaml:6: hosts[0].kind: unknown kind "vm" (want docker or plain)`,
		`x.yaml:8: hosts[0].interfaces[0].segment: unknown segment "lan9"`,
		`x.yaml:9: hosts[1].name: duplicate host name a (also hosts[0])`,
	}
	if len(te.Problems) != len(want) {
		t.Fatalf("want %d problems, got:\n%s", len(want), err)
	}
	for i, w := range want {
		if got := te.Problems[i].String(); got != w {
			t.Errorf("problem %d: got %q, want %q", i, got, w)
		}
	}
}

func TestValidTopology(t *testing.T) {
	y := `name: routed
segments:
  - name: lan0
    prefix: 192.168.8.0/24
  - name: wan
    prefix: 203.0.113.0/24
hosts:
  - name: host1
    dns: [192.168.8.1]
    interfaces:
      - segment: lan0
        address: 192.168.8.150/24
        mac: 02:00:00:00:00:01
    routes:
      - to: default
        via: 192.168.8.1
    containers:
      - name: cm01
        network: none
      - name: cm06
        image: busybox
        network: container:cm01
        command: [sleep, infinity]
    api: [unix, "tcp://0.0.0.0:2375"]
    ovs: true
  - name: router
    kind: plain
    forwarding: true
    ovs: true
    interfaces:
      - segment: lan0
        address: 192.168.8.1/24
      - segment: wan
        name: up0
        address: 203.0.113.1/24
  - name: internet
    kind: plain
    interfaces:
      - segment: wan
        address: 203.0.113.10/24
    routes:
      - to: 192.168.8.0/24
        via: 203.0.113.1
  - name: docker2
    forwarding: true
`
	got, err := ParseTopology("routed.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	p, a := netip.MustParsePrefix, netip.MustParseAddr
	want := &Topology{
		Name: "routed",
		File: "routed.yaml",
		Segments: []Segment{
			{Name: "lan0", Prefix: p("192.168.8.0/24")},
			{Name: "wan", Prefix: p("203.0.113.0/24")},
		},
		Hosts: []HostSpec{
			{
				Name: "host1", Kind: KindDocker, Forwarding: false,
				Interfaces: []InterfaceSpec{{Name: "eth1", Segment: "lan0", Address: p("192.168.8.150/24"), MAC: "02:00:00:00:00:01"}},
				Routes:     []RouteSpec{{To: p("0.0.0.0/0"), Via: a("192.168.8.1")}},
				DNS:        []netip.Addr{a("192.168.8.1")},
				Containers: []ContainerSpec{
					{Name: "cm01", Image: "alpine", Network: "none"},
					{Name: "cm06", Image: "busybox", Network: "container:cm01", Command: []string{"sleep", "infinity"}},
				},
				API: []string{APIUnix, "tcp://0.0.0.0:2375"},
				OVS: true,
			},
			{
				Name: "router", Kind: KindPlain, Forwarding: true, OVS: true,
				Interfaces: []InterfaceSpec{
					{Name: "eth1", Segment: "lan0", Address: p("192.168.8.1/24")},
					{Name: "up0", Segment: "wan", Address: p("203.0.113.1/24")},
				},
			},
			{
				Name: "internet", Kind: KindPlain, Forwarding: false,
				Interfaces: []InterfaceSpec{{Name: "eth1", Segment: "wan", Address: p("203.0.113.10/24")}},
				Routes:     []RouteSpec{{To: p("192.168.8.0/24"), Via: a("203.0.113.1")}},
			},
			{Name: "docker2", Kind: KindDocker, Forwarding: true, API: []string{APIUnix}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
	// The state file stores the topology as JSON: it must come back equal.
	c, err := cloneTopology(got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("JSON round trip changed the topology:\n%+v", c)
	}
}

func TestFixtures(t *testing.T) {
	for _, c := range []struct {
		file  string
		hosts map[string]string
	}{
		{"classroom.yaml", map[string]string{"node1": "192.168.8.150/24", "node2": "192.168.8.148/24"}},
		{"single.yaml", map[string]string{"host1": "192.168.99.101/24"}},
		{"overlay.yaml", map[string]string{"node1": "192.168.8.150/24", "node2": "192.168.8.148/24"}},
		{"overlay3.yaml", map[string]string{"node1": "192.168.2.151/24", "node2": "192.168.2.152/24", "node3": "192.168.2.153/24"}},
	} {
		path := filepath.Join("..", "fixtures", c.file)
		topo, err := LoadTopology(path)
		if err != nil {
			t.Fatal(err)
		}
		if topo.File != path || len(topo.Hosts) != len(c.hosts) {
			t.Fatalf("%s: file %q, %d hosts", c.file, topo.File, len(topo.Hosts))
		}
		for _, h := range topo.Hosts {
			if h.Kind != KindDocker || h.Forwarding || len(h.Interfaces) != 1 {
				t.Errorf("%s: host %s: %+v", c.file, h.Name, h)
				continue
			}
			if got := h.Interfaces[0].Address.String(); got != c.hosts[h.Name] || h.Interfaces[0].Name != "eth1" {
				t.Errorf("%s: host %s: %s %s, want eth1 %s", c.file, h.Name, h.Interfaces[0].Name, got, c.hosts[h.Name])
			}
		}
	}
}

// LoadTopology names the file as it was given.
func TestLoadTopologyNamesPath(t *testing.T) {
	path := filepath.Join("..", "fixtures", "invalid", "unknown-kind.yaml")
	_, err := LoadTopology(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":6: hosts[0].kind:") {
		t.Fatalf("got %v", err)
	}
	if _, err := LoadTopology(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("a missing file was accepted")
	}
}

// A topology built in code is validated by Up before anything exists.
func TestUpRejectsBadTopology(t *testing.T) {
	root := t.TempDir()
	bad := &Topology{
		Segments: []Segment{{Name: "lan0", Prefix: netip.MustParsePrefix("192.168.8.0/24")}},
		Hosts: []HostSpec{{Name: "a", Kind: KindPlain, Interfaces: []InterfaceSpec{
			{Segment: "lan0", Address: netip.MustParsePrefix("10.0.0.5/24")},
		}}},
	}
	_, err := Up(context.Background(), bad, Options{Root: root, ID: "tbad0"})
	if err == nil || !strings.Contains(err.Error(), "topology: hosts[0].interfaces[0].address: 10.0.0.5/24 is not inside segment lan0") {
		t.Fatalf("got %v", err)
	}
	ents, _ := os.ReadDir(root)
	if len(ents) != 0 {
		t.Fatalf("state root not empty: %v", ents)
	}
	if pins, _ := labPins("tbad0"); len(pins) != 0 {
		t.Fatalf("pins made: %v", pins)
	}
}

// The overlay fixtures make every host an etcd member at its own address,
// its daemon pointed at that member.
func TestEtcdFixtures(t *testing.T) {
	for _, c := range []struct {
		file    string
		members map[string]string // host -> member name
	}{
		{"overlay.yaml", map[string]string{"node1": "docker-node1", "node2": "docker-node2"}},
		{"overlay3.yaml", map[string]string{"node1": "node1", "node2": "node2", "node3": "node3"}},
	} {
		topo, err := LoadTopology(filepath.Join("..", "fixtures", c.file))
		if err != nil {
			t.Fatal(err)
		}
		if topo.Etcd == nil || topo.Etcd.Token != "etcd-cluster" {
			t.Errorf("%s: etcd settings %+v, want token etcd-cluster", c.file, topo.Etcd)
		}
		for _, h := range topo.Hosts {
			addr := h.Interfaces[0].Address.Addr()
			if h.Etcd == nil || h.Etcd.Name != c.members[h.Name] || h.Etcd.Address != addr {
				t.Errorf("%s: host %s: etcd %+v, want %s at %s", c.file, h.Name, h.Etcd, c.members[h.Name], addr)
			}
			if want := "etcd://" + addr.String() + ":2379"; h.ClusterStore != want {
				t.Errorf("%s: host %s: cluster store %q, want %q", c.file, h.Name, h.ClusterStore, want)
			}
			if want := addr.String() + ":2375"; h.ClusterAdvertise != want {
				t.Errorf("%s: host %s: cluster advertise %q, want %q", c.file, h.Name, h.ClusterAdvertise, want)
			}
		}
	}
}

// A member's host may point its daemon at 127.0.0.1:2379 (members listen
// there too); the settings' defaults pass etcd's rule.
func TestEtcdLoopbackStore(t *testing.T) {
	y := `segments:
  - name: lan0
    prefix: 192.168.8.0/24
etcd: {tick_ms: 100}
hosts:
  - name: a
    interfaces: [{segment: lan0, address: 192.168.8.2/24}]
    etcd: {name: m1}
    cluster_store: etcd://127.0.0.1:2379
    cluster_advertise: 192.168.8.2:2375
`
	topo, err := ParseTopology("x.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if topo.Etcd.TickMs != 100 || topo.Etcd.ElectionMs != 0 || topo.Hosts[0].Etcd.Address != netip.MustParseAddr("192.168.8.2") {
		t.Fatalf("parsed %+v, %+v", topo.Etcd, topo.Hosts[0].Etcd)
	}
}
