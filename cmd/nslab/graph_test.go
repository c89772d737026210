package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/nslab/nslab/lab"
)

// Two segments joined by a router, containers and routes: every element the
// drawings show.
const routedTopology = `
name: routed
segments:
  - name: lan0
    prefix: 192.168.99.0/24
  - name: lan1
    prefix: 10.1.0.0/24
hosts:
  - name: node1
    interfaces:
      - segment: lan0
        address: 192.168.99.101/24
    routes:
      - to: 10.1.0.0/24
        via: 192.168.99.1
    containers:
      - name: cm01
        image: alpine
        network: none
  - name: router
    kind: plain
    forwarding: true
    interfaces:
      - segment: lan0
        address: 192.168.99.1/24
      - segment: lan1
        address: 10.1.0.1/24
  - name: outside
    kind: plain
    interfaces:
      - segment: lan1
        address: 10.1.0.2/24
    routes:
      - to: default
        via: 10.1.0.1
`

func routed(t *testing.T) *lab.Topology {
	t.Helper()
	topo, err := lab.ParseTopology("routed.yaml", []byte(routedTopology))
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

var (
	dotNode = regexp.MustCompile(`^  ("(?:[^"\\]|\\.)*") \[(.*)\];$`)
	dotEdge = regexp.MustCompile(`^  ("(?:[^"\\]|\\.)*") -- ("(?:[^"\\]|\\.)*") \[(.*)\];$`)
)

func TestRenderDot(t *testing.T) {
	var b bytes.Buffer
	if err := renderDot(&b, routed(t), "abc1"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if lines[0] != "graph nslab {" || lines[len(lines)-1] != "}" {
		t.Fatalf("not one undirected graph:\n%s", out)
	}
	// Every statement is a node or an edge between declared nodes (or a
	// graph attribute), so dot draws exactly what is declared.
	nodes := map[string]string{}
	type edge struct{ from, to, attrs string }
	var edges []edge
	for _, l := range lines[1 : len(lines)-1] {
		if m := dotEdge.FindStringSubmatch(l); m != nil {
			edges = append(edges, edge{m[1], m[2], m[3]})
			continue
		}
		if m := dotNode.FindStringSubmatch(l); m != nil {
			nodes[m[1]] = m[2]
			continue
		}
		if !regexp.MustCompile(`^  [a-z]+( \[.*\])?(=.*)?;$`).MatchString(l) {
			t.Errorf("unexpected dot line %q", l)
		}
	}
	for _, e := range edges {
		if nodes[e.from] == "" || nodes[e.to] == "" {
			t.Errorf("edge %s -- %s joins an undeclared node", e.from, e.to)
		}
	}
	if !strings.Contains(out, `label="lab abc1: routed"`) {
		t.Errorf("no title naming the lab:\n%s", out)
	}
	for node, want := range map[string]string{
		`"segment/lan0"`:         `label="lan0\n192.168.99.0/24"`,
		`"segment/lan1"`:         `label="lan1\n10.1.0.0/24"`,
		`"host/node1"`:           `label="node1\ndocker\n10.1.0.0/24 via 192.168.99.1"`,
		`"host/router"`:          `style=dashed, label="router\nplain"`,
		`"host/outside"`:         `label="outside\nplain\ndefault via 10.1.0.1"`,
		`"container/node1/cm01"`: `label="cm01\nalpine"`,
	} {
		if !strings.Contains(nodes[node], want) {
			t.Errorf("node %s = [%s], want it to hold %s", node, nodes[node], want)
		}
	}
	wantEdges := map[string]string{
		`"host/node1" -- "segment/lan0"`:         `label="eth1\n192.168.99.101/24"`,
		`"host/router" -- "segment/lan0"`:        `label="eth1\n192.168.99.1/24"`,
		`"host/router" -- "segment/lan1"`:        `label="eth2\n10.1.0.1/24"`,
		`"host/outside" -- "segment/lan1"`:       `label="eth1\n10.1.0.2/24"`,
		`"host/node1" -- "container/node1/cm01"`: `label="network none"`,
	}
	if len(edges) != len(wantEdges) {
		t.Errorf("%d edges, want %d", len(edges), len(wantEdges))
	}
	for _, e := range edges {
		want, ok := wantEdges[e.from+" -- "+e.to]
		if !ok || !strings.Contains(e.attrs, want) {
			t.Errorf("edge %s -- %s [%s], want %s", e.from, e.to, e.attrs, want)
		}
	}
}

func TestRenderText(t *testing.T) {
	var b bytes.Buffer
	if err := renderText(&b, routed(t), ""); err != nil {
		t.Fatal(err)
	}
	want := `routed (routed.yaml)

segments
  lan0 192.168.99.0/24
    ├─ node1:eth1 192.168.99.101/24
    └─ router:eth1 192.168.99.1/24
  lan1 10.1.0.0/24
    ├─ router:eth2 10.1.0.1/24
    └─ outside:eth1 10.1.0.2/24

hosts
  node1 (docker)
    eth1 192.168.99.101/24 → lan0
    route 10.1.0.0/24 via 192.168.99.1
    container cm01 (alpine, network none)
  router (plain)
    eth1 192.168.99.1/24 → lan0
    eth2 10.1.0.1/24 → lan1
  outside (plain)
    eth1 10.1.0.2/24 → lan1
    route default via 10.1.0.1
`
	if got := b.String(); got != want {
		t.Errorf("text graph:\n%s\nwant:\n%s", got, want)
	}
}

// The command draws a file without any lab, in either format.
func TestGraphCommand(t *testing.T) {
	root := t.TempDir()
	stdout, stderr, code := runCLI(t, "--root", root, "graph", "--format", "text", "../../fixtures/classroom.yaml")
	if code != 0 {
		t.Fatalf("graph --format text: status %d, %s", code, stderr)
	}
	for _, want := range []string{"node1:eth1 192.168.8.150/24", "node2:eth1 192.168.8.148/24", "lan0 192.168.8.0/24"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("graph --format text lacks %q:\n%s", want, stdout)
		}
	}
	stdout, _, code = runCLI(t, "--root", root, "graph", "../../fixtures/classroom.yaml")
	if code != 0 || !strings.HasPrefix(stdout, "graph nslab {") {
		t.Errorf("graph (dot by default): status %d:\n%s", code, stdout)
	}
}
