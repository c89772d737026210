package hostdconfig

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ParseBIP takes what dockerd's --bip takes: a host address of an IPv4
// subnet that leaves room for containers.
func TestParseBIP(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" : refused
	}{
		{"172.18.0.1/16", "172.18.0.1/16"},
		{"10.1.2.2/30", "10.1.2.2/30"},
		{"172.18.0.0/16", ""},     // the network address
		{"172.18.255.255/16", ""}, // the broadcast address
		{"172.18.0.1/31", ""},     // no room for a container
		{"fd00::1/64", ""},
		{"nope", ""},
	} {
		p, err := ParseBIP(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%s: accepted as %s", tc.in, p)
		case tc.want != "" && (err != nil || p.String() != tc.want):
			t.Errorf("%s: %v, %v; want %s", tc.in, p, err, tc.want)
		}
	}
}

// A bad --bip is refused when the configuration is read, naming the field.
func TestLoadRefusesBadBIP(t *testing.T) {
	dir := t.TempDir()
	for _, bip := range []string{"172.18.0.0/16", "nope", "172.18.0.1/31"} {
		cfg := Config{Lab: "x", Host: "h", Root: dir, Socket: dir + "/s", DefaultBridge: bip}
		path := filepath.Join(dir, "hostd.json")
		if err := cfg.Write(path); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "defaultBridge") {
			t.Errorf("%s: %v", bip, err)
		}
	}
}

// What the lab writes, hostd reads back, with the namespace prefix filled
// in as the lab's names have it.
func TestWriteLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hostd.json")
	in := Config{Lab: "lab1", Host: "node1", Root: dir, Socket: dir + "/docker.sock", DNS: []string{"192.168.99.1"}, Firewall: "nftables"}
	if err := in.Write(path); err != nil {
		t.Fatal(err)
	}
	out, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.NetNSPrefix != "lab1-node1-" || out.Firewall != "nftables" || len(out.DNS) != 1 || out.Socket != in.Socket {
		t.Fatalf("read back %+v", out)
	}
	in.Firewall = "pf"
	if err := in.Write(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "firewall") {
		t.Fatalf("firewall pf: %v", err)
	}
}

// dockerd's -H values hostd serves: unix with an absolute path, tcp with
// an IPv4 address and a port; anything else is refused by name.
func TestParseDaemonHost(t *testing.T) {
	for s, want := range map[string]string{
		"unix:///var/run/docker.sock": "unix /var/run/docker.sock",
		"tcp://0.0.0.0:2375":          "tcp 0.0.0.0:2375",
		"tcp://192.168.8.148:2375":    "tcp 192.168.8.148:2375",
	} {
		n, a, err := ParseDaemonHost(s)
		if err != nil || n+" "+a != want {
			t.Errorf("%s: %s %s %v, want %s", s, n, a, err, want)
		}
	}
	for _, s := range []string{"unix://var/run/docker.sock", "tcp://0.0.0.0", "tcp://[::]:2375", "tcp://0.0.0.0:0", "fd://", "ssh://x", "0.0.0.0:2375"} {
		if _, _, err := ParseDaemonHost(s); err == nil || !strings.Contains(err.Error(), strconv.Quote(s)) {
			t.Errorf("%s: accepted or not named: %v", s, err)
		}
	}
}
