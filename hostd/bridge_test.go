package hostd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/hostdconfig"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
	"github.com/nslab/nslab/netns/nstest"
	"github.com/nslab/nslab/netns/probe"
)

// fixture reads a file observed on Docker 20.10.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "fixtures", "docker-20.10", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// getJSON decodes an API answer, failing unless it is 200.
func (h *testHost) getJSON(path string) map[string]any {
	h.t.Helper()
	code, _, body := h.api("GET", path, "")
	if code != 200 {
		h.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	return m
}

// post makes a request that must answer want; it returns the body.
func (h *testHost) post(path, body string, want int) string {
	h.t.Helper()
	code, _, b := h.api("POST", path, body)
	if code != want {
		h.t.Fatalf("POST %s %s: %d %s, want %d", path, body, code, b, want)
	}
	return b
}

// runAPI creates and starts a container the way `docker run -d` does and
// returns its id.
func (h *testHost) runAPI(name, body string) string {
	h.t.Helper()
	var cr struct{ Id string }
	json.Unmarshal([]byte(h.post("/v1.41/containers/create?name="+name, body, 201)), &cr)
	h.post("/v1.41/containers/"+cr.Id+"/start", "", 204)
	return cr.Id
}

// createNetwork creates a network from a raw request and returns its id.
func (h *testHost) createNetwork(body string) string {
	h.t.Helper()
	var nr struct{ Id string }
	json.Unmarshal([]byte(h.post("/v1.41/networks/create", body, 201)), &nr)
	return nr.Id
}

// addrsOf lists a link's IPv4 addresses in a namespace.
func addrsOf(t *testing.T, ns, name string) []string {
	t.Helper()
	return nstest.Addrs(t, ns, nstest.Link(t, ns, name))
}

// routeDefault is "via GW dev NAME" of a namespace's default route.
func routeDefault(t *testing.T, ns string) string {
	t.Helper()
	return strings.Join(nstest.Gateways(t, ns, func(r kernel.Route) bool { return r.Dst == "default" }), "; ")
}

// kernelState is what a failed request must not change: the host
// namespace's links (with type, master and addresses) and the host's
// container pins.
func (h *testHost) kernelState() string {
	h.t.Helper()
	links, err := kernel.Links(h.nsPath)
	if err != nil {
		h.t.Fatal(err)
	}
	var lines []string
	for _, l := range links {
		lines = append(lines, fmt.Sprintf("link %s %s master=%s %v", l.Name, l.Kind, l.Master, l.Addrs))
	}
	pins, err := kernel.Pins(h.cfg.NetNSPrefix)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, p := range pins {
		lines = append(lines, "pin "+p)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// [E02][E04] The default network as Docker 20.10 shows it, a container on
// it as ctr-cm01.json, its kernel side, and two containers pinging.
func TestDefaultBridgeAPI(t *testing.T) {
	h := startHostd(t)
	var want []map[string]any
	json.Unmarshal(fixture(t, "net-bridge.json"), &want)
	got := h.getJSON("/v1.41/networks/bridge")
	for _, k := range []string{"Name", "Scope", "Driver", "EnableIPv6", "IPAM", "Internal", "Attachable", "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels"} {
		if !reflect.DeepEqual(got[k], want[0][k]) {
			t.Errorf("bridge %s: got %v, Docker shows %v", k, got[k], want[0][k])
		}
	}
	if a := addrsOf(t, h.nsPath, "docker0"); len(a) != 1 || a[0] != "172.17.0.1/16" {
		t.Fatalf("docker0 %v", a)
	}
	id1 := h.runAPI("cm01", `{"Image":"alpine","Cmd":["sleep","1000"]}`)
	h.runAPI("cm02", `{"Image":"alpine","Cmd":["sleep","1000"]}`)
	c := h.getJSON("/v1.41/containers/cm01/json")
	ns := c["NetworkSettings"].(map[string]any)
	var fx []map[string]any
	json.Unmarshal(fixture(t, "ctr-cm01.json"), &fx)
	wns := fx[0]["NetworkSettings"].(map[string]any)
	for _, k := range []string{"Bridge", "Gateway", "IPAddress", "IPPrefixLen", "MacAddress", "Ports", "SecondaryIPAddresses", "HairpinMode"} {
		if !reflect.DeepEqual(ns[k], wns[k]) {
			t.Errorf("NetworkSettings.%s: got %v, Docker shows %v", k, ns[k], wns[k])
		}
	}
	br := ns["Networks"].(map[string]any)["bridge"].(map[string]any)
	wbr := wns["Networks"].(map[string]any)["bridge"].(map[string]any)
	if !reflect.DeepEqual(keys(br), keys(wbr)) {
		t.Errorf("Networks.bridge keys %v, Docker's %v", keys(br), keys(wbr))
	}
	for _, k := range []string{"IPAMConfig", "Links", "Aliases", "Gateway", "IPAddress", "IPPrefixLen", "MacAddress", "DriverOpts"} {
		if !reflect.DeepEqual(br[k], wbr[k]) {
			t.Errorf("Networks.bridge.%s: got %v, Docker shows %v", k, br[k], wbr[k])
		}
	}
	if br["EndpointID"] != ns["EndpointID"] || br["NetworkID"] != got["Id"] || !hex64.MatchString(br["EndpointID"].(string)) {
		t.Errorf("endpoint ids: %v %v %v", br["EndpointID"], ns["EndpointID"], br["NetworkID"])
	}
	// The kernel: eth0 with the address and Docker's MAC, the default
	// route via docker0's address.
	pin := h.pin("cm01")
	if a := addrsOf(t, pin, "eth0"); len(a) != 1 || a[0] != "172.17.0.2/16" {
		t.Fatalf("cm01 eth0 %v", a)
	}
	if r := routeDefault(t, pin); r != "via 172.17.0.1 dev eth0" {
		t.Fatalf("cm01 default route %q", r)
	}
	// IPv6 is off in the container, as Docker 20.10 leaves it.
	hd, err := netns.Handle(pin)
	if err != nil {
		t.Fatal(err)
	}
	v6, err := netns.AddrList(hd, nil, netlink.FAMILY_V6)
	hd.Close()
	if err != nil || len(v6) != 0 {
		t.Fatalf("cm01 IPv6 addresses %v %v", v6, err)
	}
	hosts, err := os.ReadFile(c["HostsPath"].(string))
	if err != nil || !strings.HasSuffix(string(hosts), "ff02::2\tip6-allrouters\n172.17.0.2\t"+id1[:12]+"\n") {
		t.Fatalf("cm01 hosts %q %v", hosts, err)
	}
	if _, err := probe.Ping(context.Background(), pin, netip.MustParseAddr("172.17.0.3"), probe.Opts{}); err != nil {
		t.Fatal(err)
	}
	nw := h.getJSON("/v1.41/networks/bridge")
	ctrs := nw["Containers"].(map[string]any)
	if e, ok := ctrs[id1].(map[string]any); !ok || e["Name"] != "cm01" || e["IPv4Address"] != "172.17.0.2/16" || e["MacAddress"] != "02:42:ac:11:00:02" || e["IPv6Address"] != "" {
		t.Fatalf("bridge containers %v", ctrs)
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// [E05] The fixture's sequence: br1 takes the next pool, br5 its subnet;
// a1..a3 get .2..a.4, a4 reuses a2's .3; inspect as net-br5.json and
// ctr-a1.json; /etc/hosts as a1-hosts.txt; rm removes the bridge.
func TestUserBridgeAPI(t *testing.T) {
	h := startHostd(t)
	br1 := h.createNetwork(`{"Name":"br1","Driver":"bridge","CheckDuplicate":true,"IPAM":{"Driver":"default","Config":[],"Options":{}}}`)
	n1 := h.getJSON("/v1.41/networks/br1")
	if cfg := fmt.Sprint(n1["IPAM"]); cfg != "map[Config:[map[Gateway:172.18.0.1 Subnet:172.18.0.0/16]] Driver:default Options:map[]]" {
		t.Fatalf("br1 IPAM %s", cfg)
	}
	if a := addrsOf(t, h.nsPath, "br-"+br1[:12]); len(a) != 1 || a[0] != "172.18.0.1/16" {
		t.Fatalf("br1 bridge %v", a)
	}
	br5 := h.createNetwork(`{"Name":"br5","Driver":"bridge","CheckDuplicate":true,"IPAM":{"Driver":"default","Config":[{"Subnet":"192.168.1.0/24","Gateway":"192.168.1.1"}],"Options":{}},"Options":{},"Labels":{}}`)
	ids := map[string]string{}
	for _, name := range []string{"a1", "a2", "a3"} {
		ids[name] = h.runAPI(name, `{"Image":"alpine","Tty":true,"OpenStdin":true,"HostConfig":{"NetworkMode":"br5"}}`)
	}
	code, _, _ := h.api("DELETE", "/v1.41/containers/a2?force=1", "")
	if code != 204 {
		t.Fatalf("rm -f a2: %d", code)
	}
	ids["a4"] = h.runAPI("a4", `{"Image":"alpine","Tty":true,"OpenStdin":true,"HostConfig":{"NetworkMode":"br5"}}`)

	var want []map[string]any
	json.Unmarshal(fixture(t, "net-br5.json"), &want)
	got := h.getJSON("/v1.41/networks/br5")
	for _, k := range []string{"Scope", "Driver", "EnableIPv6", "IPAM", "Internal", "Attachable", "Ingress", "ConfigFrom", "ConfigOnly", "Options", "Labels"} {
		if !reflect.DeepEqual(got[k], want[0][k]) {
			t.Errorf("br5 %s: got %v, Docker shows %v", k, got[k], want[0][k])
		}
	}
	if got["Id"] != br5 {
		t.Errorf("br5 id %v", got["Id"])
	}
	wantIP := map[string]string{"a1": "192.168.1.2/24", "a3": "192.168.1.4/24", "a4": "192.168.1.3/24"}
	var seen []string
	for _, e := range want[0]["Containers"].(map[string]any) {
		w := e.(map[string]any)
		name := w["Name"].(string)
		g, ok := got["Containers"].(map[string]any)[ids[name]].(map[string]any)
		if !ok {
			t.Fatalf("br5 lacks %s: %v", name, got["Containers"])
		}
		for _, k := range []string{"Name", "MacAddress", "IPv4Address", "IPv6Address"} {
			if g[k] != w[k] {
				t.Errorf("br5 %s.%s: got %v, Docker shows %v", name, k, g[k], w[k])
			}
		}
		if g["IPv4Address"] != wantIP[name] {
			t.Errorf("%s: %v", name, g["IPv4Address"])
		}
		seen = append(seen, name)
	}
	if len(seen) != 3 || len(got["Containers"].(map[string]any)) != 3 {
		t.Fatalf("br5 containers %v", got["Containers"])
	}

	// a1 as ctr-a1.json shows it.
	var fx []map[string]any
	json.Unmarshal(fixture(t, "ctr-a1.json"), &fx)
	wns := fx[0]["NetworkSettings"].(map[string]any)
	a1 := h.getJSON("/v1.41/containers/a1/json")
	ns := a1["NetworkSettings"].(map[string]any)
	for _, k := range []string{"Bridge", "EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "MacAddress", "Ports"} {
		if !reflect.DeepEqual(ns[k], wns[k]) {
			t.Errorf("a1 NetworkSettings.%s: got %v, Docker shows %v", k, ns[k], wns[k])
		}
	}
	g := ns["Networks"].(map[string]any)["br5"].(map[string]any)
	w := wns["Networks"].(map[string]any)["br5"].(map[string]any)
	w["Aliases"] = []any{ids["a1"][:12]}
	w["NetworkID"] = br5
	w["EndpointID"] = g["EndpointID"]
	if !reflect.DeepEqual(g, w) {
		t.Errorf("a1 Networks.br5:\n got %v\nwant %v", g, w)
	}
	hosts, _ := os.ReadFile(a1["HostsPath"].(string))
	wantHosts := strings.Replace(string(fixture(t, "a1-hosts.txt")), "e494bc81753e", ids["a1"][:12], 1)
	if string(hosts) != wantHosts {
		t.Errorf("a1 hosts:\n%s\nwant\n%s", hosts, wantHosts)
	}
	pin := h.pin("a1")
	if r := routeDefault(t, pin); r != "via 192.168.1.1 dev eth0" {
		t.Fatalf("a1 default route %q", r)
	}
	if _, err := probe.Ping(context.Background(), pin, netip.MustParseAddr("192.168.1.3"), probe.Opts{}); err != nil {
		t.Fatal(err)
	}

	h.wantError("DELETE", "/v1.41/networks/br5", "", 403, "error while removing network: network br5 id "+br5+" has active endpoints")
	for _, name := range []string{"a1", "a3", "a4"} {
		if code, _, b := h.api("DELETE", "/v1.41/containers/"+name+"?force=1", ""); code != 204 {
			t.Fatalf("rm -f %s: %d %s", name, code, b)
		}
	}
	if code, _, b := h.api("DELETE", "/v1.41/networks/br5", ""); code != 204 {
		t.Fatalf("rm br5: %d %s", code, b)
	}
	if names := linkNames(t, h.nsPath); len(names) != 3 {
		t.Fatalf("host links after rm br5 (want lo, docker0, br1's): %v", names)
	}
	if body := h.post("/v1.41/networks/prune", "", 200); !strings.Contains(body, `"NetworksDeleted":["br1"]`) {
		t.Fatalf("prune: %s", body)
	}
	if names := linkNames(t, h.nsPath); len(names) != 2 {
		t.Fatalf("host links after prune: %v", names)
	}
}

// [E06] connect and disconnect a running container: eth1 comes and goes,
// the default route follows Docker's choice, /etc/hosts changes as
// Docker 20.10 changes it, --ip and --alias are honoured.
func TestConnectDisconnectAPI(t *testing.T) {
	h := startHostd(t)
	h.createNetwork(`{"Name":"br1","IPAM":{"Config":[{"Subnet":"172.30.0.0/16"}]},"Options":{"com.docker.network.driver.mtu":"1400"},"Labels":{"course":"e06"}}`)
	id := h.runAPI("cm01", `{"Image":"alpine","Cmd":["sleep","1000"]}`)
	h.runAPI("cm02", `{"Image":"alpine","Cmd":["sleep","1000"],"HostConfig":{"NetworkMode":"br1"},"NetworkingConfig":{"EndpointsConfig":{"br1":{"Aliases":["web"]}}}}`)
	pin := h.pin("cm01")
	h.post("/v1.41/networks/br1/connect", `{"Container":"cm01","EndpointConfig":{"IPAMConfig":{"IPv4Address":"172.30.0.50"},"Aliases":["db"]}}`, 200)
	if a := addrsOf(t, pin, "eth1"); len(a) != 1 || a[0] != "172.30.0.50/16" {
		t.Fatalf("eth1 %v", a)
	}
	// "br1" sorts before "bridge": Docker routes through br1 now.
	if r := routeDefault(t, pin); r != "via 172.30.0.1 dev eth1" {
		t.Fatalf("default route after connect %q", r)
	}
	c := h.getJSON("/v1.41/containers/cm01/json")
	nets := c["NetworkSettings"].(map[string]any)["Networks"].(map[string]any)
	b1 := nets["br1"].(map[string]any)
	if fmt.Sprint(b1["Aliases"]) != "[db "+id[:12]+"]" || fmt.Sprint(b1["IPAMConfig"]) != "map[IPv4Address:172.30.0.50]" || b1["IPAddress"] != "172.30.0.50" || b1["MacAddress"] != "02:42:ac:1e:00:32" {
		t.Fatalf("cm01 br1 settings %v", b1)
	}
	if c["NetworkSettings"].(map[string]any)["IPAddress"] != "172.17.0.2" {
		t.Fatal("top-level settings must stay the default network's")
	}
	hosts, _ := os.ReadFile(c["HostsPath"].(string))
	if !strings.HasSuffix(string(hosts), "172.17.0.2\t"+id[:12]+"\n172.30.0.50\t"+id[:12]+"\n") {
		t.Fatalf("hosts after connect %q", hosts)
	}
	if _, err := probe.Ping(context.Background(), pin, netip.MustParseAddr("172.30.0.2"), probe.Opts{}); err != nil {
		t.Fatal(err)
	}
	hd, _ := netns.Handle(pin)
	eth1, err := hd.LinkByName("eth1")
	hd.Close()
	if err != nil || eth1.Attrs().MTU != 1400 {
		t.Fatalf("eth1 mtu: %v %v", eth1, err)
	}
	h.wantError("POST", "/v1.41/networks/br1/connect", `{"Container":"cm01"}`, 403, "endpoint with name cm01 already exists in network br1")

	h.post("/v1.41/networks/br1/disconnect", `{"Container":"cm01"}`, 200)
	if names := linkNames(t, pin); len(names) != 2 {
		t.Fatalf("cm01 links after disconnect %v", names)
	}
	if r := routeDefault(t, pin); r != "via 172.17.0.1 dev eth0" {
		t.Fatalf("default route after disconnect %q", r)
	}
	// Docker 20.10 deletes hosts lines by name: both lines go.
	hosts, _ = os.ReadFile(c["HostsPath"].(string))
	if strings.Contains(string(hosts), id[:12]) {
		t.Fatalf("hosts after disconnect %q", hosts)
	}
	h.wantError("POST", "/v1.41/networks/br1/disconnect", `{"Container":"cm01"}`, 500, "container "+id+" is not connected to network br1")
	// The address is free again.
	h.post("/v1.41/networks/br1/connect", `{"Container":"cm01","EndpointConfig":{"IPAMConfig":{"IPv4Address":"172.30.0.50"}}}`, 200)
	if a := addrsOf(t, pin, "eth2"); len(a) != 1 || a[0] != "172.30.0.50/16" {
		t.Fatalf("eth2 %v", a)
	}
	h.post("/v1.41/networks/bridge/disconnect", `{"Container":"cm01","Force":true}`, 200)
	if r := routeDefault(t, pin); r != "via 172.30.0.1 dev eth2" {
		t.Fatalf("default route on br1 alone %q", r)
	}
}

// Every error of fixtures/docker-20.10/README.md with Docker's status and
// text, and nothing half-made after it: the host namespace's links,
// addresses and the container pins are what they were, and the address
// space still has every address the refused request touched.
func TestBridgeErrorsAsDocker(t *testing.T) {
	h := startHostd(t)
	br5 := h.createNetwork(`{"Name":"br5","IPAM":{"Config":[{"Subnet":"192.168.1.0/24","Gateway":"192.168.1.1"}]}}`)
	a1 := h.runAPI("a1", `{"Image":"alpine","Cmd":["sleep","1000"],"HostConfig":{"NetworkMode":"br5"}}`)
	h.createNetwork(`{"Name":"br1"}`)
	before := h.kernelState()
	check := func(what string) {
		t.Helper()
		if after := h.kernelState(); after != before {
			t.Fatalf("%s changed the kernel:\nbefore\n%s\nafter\n%s", what, before, after)
		}
	}
	for _, c := range []struct {
		method, path, body string
		code               int
		msg                string
	}{
		{"POST", "/v1.41/networks/create", `{"Name":"br1","CheckDuplicate":true}`, 409, "network with name br1 already exists"},
		{"POST", "/v1.41/networks/create", `{"Name":"x","IPAM":{"Config":[{"Subnet":"192.168.1.0/25"}]}}`, 403, "Pool overlaps with other one on this address space"},
		{"POST", "/v1.41/networks/create", `{"Name":"x","IPAM":{"Config":[{"Subnet":"10.1.0.0/24","Gateway":"10.0.0.1"}]}}`, 500, "failed to allocate gateway (10.0.0.1): Requested address is out of range"},
		{"POST", "/v1.41/networks/create", `{"Name":"x","IPAM":{"Config":[{"Subnet":"192.168.1.0/33"}]}}`, 500, "Invalid subnet 192.168.1.0/33 : invalid CIDR address: 192.168.1.0/33"},
		{"POST", "/v1.41/networks/create", `{"Name":"x","Driver":"nope"}`, 404, `plugin "nope" not found`},
		{"GET", "/v1.41/networks/nope", "", 404, "network nope not found"},
		{"DELETE", "/v1.41/networks/host", "", 403, "host is a pre-defined network and cannot be removed"},
		{"DELETE", "/v1.41/networks/br5", "", 403, "error while removing network: network br5 id " + br5 + " has active endpoints"},
		{"POST", "/v1.41/networks/br5/connect", `{"Container":"a1"}`, 403, "endpoint with name a1 already exists in network br5"},
		{"POST", "/v1.41/networks/br5/connect", `{"Container":"nope"}`, 404, "No such container: nope"},
		{"POST", "/v1.41/networks/nope/connect", `{"Container":"a1"}`, 404, "network nope not found"},
		{"POST", "/v1.41/containers/create?name=a1", `{"Image":"alpine","HostConfig":{"NetworkMode":"br5"}}`, 409, `Conflict. The container name "/a1" is already in use by container "` + a1 + `". You have to remove (or rename) that container to be able to reuse that name.`},
		{"GET", "/v1.41/containers/nope/json", "", 404, "No such container: nope"},
		{"POST", "/v1.41/containers/create", `{"Image":"alpine","HostConfig":{"NetworkMode":"br5"},"NetworkingConfig":{"EndpointsConfig":{"br5":{"IPAMConfig":{"IPv4Address":"192.168.1.300"}}}}}`, 400, "invalid IPv4 address: 192.168.1.300"},
	} {
		h.wantError(c.method, c.path, c.body, c.code, c.msg)
		check(c.method + " " + c.path)
	}
	// Created with 201, refused at start; the container stays created and
	// nothing of its network is left.
	for _, c := range []struct {
		name, ip string
		code     int
		msg      string
	}{
		{"b1", "192.168.1.2", 403, "Address already in use"},
		{"b2", "10.9.9.9", 500, "Invalid address 10.9.9.9: It does not belong to any of this network's subnets"},
	} {
		h.post("/v1.41/containers/create?name="+c.name, `{"Image":"alpine","Cmd":["sleep","1000"],"HostConfig":{"NetworkMode":"br5"},"NetworkingConfig":{"EndpointsConfig":{"br5":{"IPAMConfig":{"IPv4Address":"`+c.ip+`"}}}}}`, 201)
		h.wantError("POST", "/v1.41/containers/"+c.name+"/start", "", c.code, c.msg)
		check("start " + c.name)
		st := h.getJSON("/v1.41/containers/" + c.name + "/json")["State"].(map[string]any)
		if st["Status"] != "created" || st["Error"] != c.msg {
			t.Fatalf("%s state %v", c.name, st)
		}
	}
	// The refused requests kept nothing: 192.168.1.3 is the next address,
	// 10.1.0.0/24 and 192.168.1.0/25's neighbour are free.
	h.runAPI("a2", `{"Image":"alpine","Cmd":["sleep","1000"],"HostConfig":{"NetworkMode":"br5"}}`)
	if ip := h.getJSON("/v1.41/containers/a2/json")["NetworkSettings"].(map[string]any)["Networks"].(map[string]any)["br5"].(map[string]any)["IPAddress"]; ip != "192.168.1.3" {
		t.Fatalf("a2 got %v", ip)
	}
	h.createNetwork(`{"Name":"x","IPAM":{"Config":[{"Subnet":"10.1.0.0/24"}]}}`)
}

// Config.DefaultBridge is dockerd's --bip: docker0 gets that address,
// inspect shows subnet and gateway (as Docker 20.10 does with --bip), and
// the first user network takes 172.17.0.0/16.
func TestDefaultBridgeBIP(t *testing.T) {
	h := startHostdWith(t, func(c *hostdconfig.Config) { c.DefaultBridge = "172.18.0.1/16" })
	if a := addrsOf(t, h.nsPath, "docker0"); len(a) != 1 || a[0] != "172.18.0.1/16" {
		t.Fatalf("docker0 %v", a)
	}
	n := h.getJSON("/v1.41/networks/bridge")
	if cfg := fmt.Sprint(n["IPAM"].(map[string]any)["Config"]); cfg != "[map[Gateway:172.18.0.1 Subnet:172.18.0.0/16]]" {
		t.Fatalf("bridge IPAM config %s", cfg)
	}
	h.runAPI("c1", `{"Image":"alpine","Cmd":["sleep","1000"]}`)
	if r := routeDefault(t, h.pin("c1")); r != "via 172.18.0.1 dev eth0" {
		t.Fatalf("c1 default route %q", r)
	}
	h.createNetwork(`{"Name":"br1"}`)
	if cfg := fmt.Sprint(h.getJSON("/v1.41/networks/br1")["IPAM"].(map[string]any)["Config"]); cfg != "[map[Gateway:172.17.0.1 Subnet:172.17.0.0/16]]" {
		t.Fatalf("br1 IPAM config %s", cfg)
	}
}

// Containers on one bridge reach each other; across two bridges Docker's
// isolation rules (the firewall hostd sets up) keep them apart, although
// the host routes between the two subnets.
func TestBridgeIsolation(t *testing.T) {
	h := startHostd(t)
	h.createNetwork(`{"Name":"br1"}`)
	h.createNetwork(`{"Name":"br2"}`)
	h.runAPI("c1", `{"Image":"alpine","Cmd":["sleep","1000"],"HostConfig":{"NetworkMode":"br1"}}`)
	h.runAPI("c2", `{"Image":"alpine","Cmd":["sleep","1000"],"HostConfig":{"NetworkMode":"br1"}}`)
	h.runAPI("c3", `{"Image":"alpine","Cmd":["sleep","1000"],"HostConfig":{"NetworkMode":"br2"}}`)
	ctx := context.Background()
	if _, err := probe.Ping(ctx, h.pin("c1"), netip.MustParseAddr("172.18.0.3"), probe.Opts{}); err != nil {
		t.Fatal(err)
	}
	// The host itself answers on br2's gateway: routing works...
	if _, err := probe.Ping(ctx, h.pin("c1"), netip.MustParseAddr("172.19.0.1"), probe.Opts{}); err != nil {
		t.Fatal(err)
	}
	if _, err := probe.Ping(ctx, h.pin("c3"), netip.MustParseAddr("172.19.0.1"), probe.Opts{}); err != nil {
		t.Fatal(err)
	}
	// ...and the isolation chains drop what would cross to br2.
	if err := probe.ExpectUnreachable(ctx, h.pin("c1"), netip.MustParseAddr("172.19.0.2"), probe.Opts{Timeout: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := probe.ExpectUnreachable(ctx, h.pin("c3"), netip.MustParseAddr("172.18.0.2"), probe.Opts{Timeout: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
}
