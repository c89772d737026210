package lab

import (
	"strings"
	"testing"
)

// `icc: false` is dockerd's --icc=false: hostd gets it in its
// configuration, dockerd on its command line; a plain host has no daemon
// to tell.
func TestTopologyICC(t *testing.T) {
	const doc = `segments:
  - name: lan0
    prefix: 192.168.99.0/24
hosts:
  - name: host1
    icc: false
    interfaces:
      - segment: lan0
        address: 192.168.99.101/24
  - name: host2
  - name: router
    kind: plain
    icc: false
`
	if _, err := ParseTopology("t.yaml", []byte(doc)); err == nil || !strings.Contains(err.Error(), "t.yaml:13: hosts[2].icc: host router is plain and runs no daemon") {
		t.Fatalf("icc on a plain host: %v", err)
	}
	top, err := ParseTopology("t.yaml", []byte(strings.Split(doc, "  - name: router")[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !top.Hosts[0].NoICC || top.Hosts[1].NoICC {
		t.Errorf("NoICC: host1 %v (want true), host2 %v (want false)", top.Hosts[0].NoICC, top.Hosts[1].NoICC)
	}
	s := dockerdSpec{Host: "host1", Dir: "/d", Socket: "/d/docker.sock", IPTables: true, NoICC: true}
	if got := strings.Join(s.args(), " "); !strings.HasSuffix(got, " --iptables=true --icc=false") {
		t.Errorf("dockerd args with icc false: %s", got)
	}
	s.NoICC = false
	if got := strings.Join(s.args(), " "); strings.Contains(got, "--icc") {
		t.Errorf("dockerd args with icc on: %s", got)
	}
}
