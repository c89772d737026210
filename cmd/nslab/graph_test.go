package main

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nslab/nslab/check"
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
	if err := renderDot(&b, fromTopology(routed(t), "abc1")); err != nil {
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
	if err := renderText(&b, fromTopology(routed(t), "")); err != nil {
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

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// Mermaid's flowchart statements, as renderMermaid writes them.
var (
	mmNode      = regexp.MustCompile(`^  ([A-Za-z0-9_]+)(\[\[|\(\[|\[|\{\{|>)"([^"]*)"(\]\]|\]\)|\]|\}\})$`)
	mmEdge      = regexp.MustCompile(`^  ([A-Za-z0-9_]+) (---|-\.-|-\.->)(\|"[^"]*"\|)? ([A-Za-z0-9_]+)$`)
	mmClassDef  = regexp.MustCompile(`^  classDef [a-z]+ [a-z:#0-9,\- ]+$`)
	mmClass     = regexp.MustCompile(`^  class ([A-Za-z0-9_,]+) [a-z]+$`)
	mmLinkStyle = regexp.MustCompile(`^  linkStyle ([0-9,]+) [a-z:\-,0-9]+$`)
)

// mermaidShape checks that a flowchart holds only statements Mermaid
// reads, that every shape is closed as it was opened, and that edges,
// classes and link styles name what exists. It returns the node labels by
// id.
func mermaidShape(t *testing.T, text string) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if lines[0] != "flowchart TB" || !strings.HasPrefix(lines[1], "  %% ") {
		t.Fatalf("not a titled flowchart:\n%s", text)
	}
	closing := map[string]string{"[[": "]]", "([": "])", "[": "]", "{{": "}}", ">": "]"}
	nodes := map[string]string{}
	edges := 0
	for _, l := range lines[2:] {
		if m := mmNode.FindStringSubmatch(l); m != nil {
			if closing[m[2]] != m[4] {
				t.Errorf("shape opened with %s closed with %s: %q", m[2], m[4], l)
			}
			if _, dup := nodes[m[1]]; dup {
				t.Errorf("node %s declared twice", m[1])
			}
			nodes[m[1]] = m[3]
			continue
		}
		if m := mmEdge.FindStringSubmatch(l); m != nil {
			for _, id := range []string{m[1], m[4]} {
				if _, ok := nodes[id]; !ok {
					t.Errorf("edge to undeclared node %s: %q", id, l)
				}
			}
			edges++
			continue
		}
		if m := mmClass.FindStringSubmatch(l); m != nil {
			for _, id := range strings.Split(m[1], ",") {
				if _, ok := nodes[id]; !ok {
					t.Errorf("class of undeclared node %s", id)
				}
			}
			continue
		}
		if m := mmLinkStyle.FindStringSubmatch(l); m != nil {
			for _, i := range strings.Split(m[1], ",") {
				if n, _ := strconv.Atoi(i); n >= edges {
					t.Errorf("linkStyle %d of %d edges", n, edges)
				}
			}
			continue
		}
		if !mmClassDef.MatchString(l) {
			t.Errorf("not a Mermaid statement: %q", l)
		}
	}
	return nodes
}

// Every topology of fixtures/ draws as a well-formed Mermaid flowchart,
// the same as its golden file (go test -run TestMermaidGolden -update
// rewrites them).
func TestMermaidGolden(t *testing.T) {
	files, _ := filepath.Glob("../../fixtures/*.yaml")
	if len(files) == 0 {
		t.Fatal("no topologies in fixtures/")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			topo, err := lab.LoadTopology(f)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := renderMermaid(&b, fromTopology(topo, "")); err != nil {
				t.Fatal(err)
			}
			nodes := mermaidShape(t, b.String())
			for _, h := range topo.Hosts {
				if !strings.HasPrefix(nodes["host_"+strings.ReplaceAll(h.Name, "-", "_")], h.Name+"<br>") {
					t.Errorf("no node for host %s", h.Name)
				}
			}
			golden := filepath.Join("testdata", "mermaid", name+".mmd")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if b.String() != string(want) {
				t.Errorf("mermaid of %s differs from %s:\n%s", f, golden, b.String())
			}
		})
	}
}

// daemonDrawing is the routed topology with node1's daemon reporting two
// containers on bridge, one stopped and one in container mode, and a
// report with a failed path and a failed state check.
func daemonDrawing(t *testing.T) *drawing {
	d := fromTopology(routed(t), "abc1")
	d.daemons["node1"] = &daemonView{
		networks: []daemonNetwork{{name: "bridge", driver: "bridge", scope: "local", subnets: []string{"172.17.0.0/16"}}, {name: "none", driver: "null", scope: "local"}},
		containers: []daemonContainer{
			{name: "cm01", image: "alpine", state: "running", mode: "bridge", endpoints: []daemonEndpoint{{network: "bridge", addr: netip.MustParseAddr("172.17.0.2")}}},
			{name: "cm02", image: "alpine", state: "exited", mode: "container:cm01"},
		},
	}
	d.addFailures(&check.Report{Results: []check.Result{
		{Name: "cm01 reaches outside", Kind: "ping", From: "node1/cm01", To: "10.1.0.2", Endpoints: []string{"node1/cm01"}},
		{Name: "no route", Kind: "route", Endpoints: []string{"router"}},
		{Name: "web", Kind: "http", From: "node1", To: "203.0.113.9", Endpoints: []string{"node1"}},
		{Name: "fine", Kind: "ping", Passed: true, From: "node1", To: "router"},
		{Name: "cm09 there", Kind: "interface", Endpoints: []string{"node1/cm09"}},
	}})
	return d
}

// What a daemon reports replaces the topology's containers; failures are
// red: a path as an edge between the container and the host holding the
// address (or the address alone), a state check on its node.
func TestRenderDaemonAndFailures(t *testing.T) {
	d := daemonDrawing(t)
	var dot, mm, text bytes.Buffer
	for _, r := range []struct {
		w      *bytes.Buffer
		render func(io.Writer, *drawing) error
	}{{&dot, renderDot}, {&mm, renderMermaid}, {&text, renderText}} {
		if err := r.render(r.w, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{
		`"network/node1/bridge" [shape=hexagon, fontsize=10, label="bridge\nbridge 172.17.0.0/16"];`,
		`"container/node1/cm01" -- "network/node1/bridge" [fontsize=9, label="172.17.0.2"];`,
		`"container/node1/cm02" [shape=box, fontsize=10, style=dashed, label="cm02\nalpine"];`,
		`"host/node1" -- "container/node1/cm02" [style=dotted, label="network container:cm01"];`,
		`"container/node1/cm01" -- "host/outside" [color=red, fontcolor=red, style=bold, constraint=false, label="FAIL: cm01 reaches outside"];`,
		`"host/router" [shape=ellipse, style=dashed, color=red, fontcolor=red, penwidth=2, label="router\nplain\nFAIL: no route"];`,
		`"address/203.0.113.9" [shape=plaintext, label="203.0.113.9"];`,
		`"container/node1/cm09" [shape=box, fontsize=10, style=dotted, color=red, fontcolor=red, penwidth=2, label="node1/cm09 (missing)\nFAIL: cm09 there"];`,
	} {
		if !strings.Contains(dot.String(), want) {
			t.Errorf("dot lacks %s:\n%s", want, dot.String())
		}
	}
	if strings.Contains(dot.String(), "FAIL: fine") || strings.Contains(dot.String(), `label="cm01\nalpine"];`+"\n"+`  "host/node1" -- "container/node1/cm01"`) {
		t.Errorf("a passed check or the topology's container drawn:\n%s", dot.String())
	}
	nodes := mermaidShape(t, mm.String())
	if nodes["host_router"] != "router<br>plain<br>FAIL: no route" || !strings.Contains(mm.String(), "class host_router,container_node1_cm09 failed") ||
		!strings.Contains(mm.String(), `  container_node1_cm01 -.->|"FAIL: cm01 reaches outside"| host_outside`) {
		t.Errorf("mermaid failures:\n%s", mm.String())
	}
	for _, want := range []string{
		"    network bridge (bridge, local, 172.17.0.0/16)\n",
		"    container cm01 (alpine, running; bridge 172.17.0.2)\n",
		"    container cm02 (alpine, exited; network container:cm01)\n",
		"failed checks\n  cm01 reaches outside (container/node1/cm01 → host/outside)\n  no route (host/router)\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
}

// The svg is Graphviz's own: valid XML with a node for every host; without
// dot on PATH the command says so and what to do.
func TestGraphSVG(t *testing.T) {
	if _, err := exec.LookPath("dot"); err != nil {
		t.Skipf("needs Graphviz's dot (Debian's graphviz): %v", err)
	}
	var b bytes.Buffer
	if err := renderSVG(&b, daemonDrawing(t)); err != nil {
		t.Fatal(err)
	}
	titles := svgTitles(t, b.Bytes())
	for _, want := range []string{"host/node1", "host/router", "host/outside", "segment/lan0", "container/node1/cm01", "network/node1/bridge"} {
		if !titles[want] {
			t.Errorf("svg has no node %s (titles %v)", want, titles)
		}
	}

	t.Setenv("PATH", t.TempDir())
	_, stderr, code := runCLI(t, "--root", t.TempDir(), "graph", "--format", "svg", "../../fixtures/classroom.yaml")
	if code != 1 || !strings.Contains(stderr, "Graphviz's dot, which is not on PATH (Debian: apt-get install graphviz)") {
		t.Errorf("svg without dot: status %d, %q", code, stderr)
	}
}

// svgTitles parses an SVG document (failing on anything that is not XML)
// and returns the titles Graphviz gives nodes and edges.
func svgTitles(t *testing.T, doc []byte) map[string]bool {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	dec.Strict = true
	titles := map[string]bool{}
	root, inTitle := "", false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("svg is not XML: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = e.Name.Local
			}
			inTitle = e.Name.Local == "title"
		case xml.CharData:
			if inTitle {
				titles[string(e)] = true
			}
		case xml.EndElement:
			inTitle = false
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	return titles
}

const graphLab = `
name: drawn
segments:
  - name: lan0
    prefix: 192.168.99.0/24
hosts:
  - name: host1
    interfaces:
      - segment: lan0
        address: 192.168.99.101/24
    containers:
      - name: cm01
        command: [sleep, "1000"]
      - name: cm02
        network: none
        command: [sleep, "1000"]
  - name: peer
    kind: plain
    interfaces:
      - segment: lan0
        address: 192.168.99.102/24
`

// A running lab is drawn with what its daemon reports, and a report of
// nslab check with its failure in red, in every format.
func TestGraphLab(t *testing.T) {
	needRoot(t)
	t.Parallel()
	bin, root, id, in := upDetached(t, "gr", graphLab)
	dir := t.TempDir()
	text := mustNslab(t, bin, "--root", root, "--lab", id, "graph", "--format", "text").stdout
	for _, want := range []string{
		"    network bridge (bridge, local, 172.17.0.0/16)\n",
		"    network none (null, local)\n",
		"    container cm01 (alpine, running; bridge 172.17.0.2)\n",
		"    container cm02 (alpine, running; none)\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("graph --format text lacks %q:\n%s", want, text)
		}
	}

	checks := filepath.Join(dir, "checks.yaml")
	os.WriteFile(checks, []byte("checks:\n  - {name: cm01 to peer, ping: {from: host1/cm01, to: peer}}\n  - {name: peer to cm02, ping: {from: peer, to: 172.17.0.9}, deadline: 1s}\n"), 0o644)
	r := in("check", "--format", "json", checks)
	results := filepath.Join(dir, "results.json")
	os.WriteFile(results, []byte(r.stdout), 0o644)
	if r.code != 1 {
		t.Fatalf("check: status %d, want 1 (one failure)\n%s", r.code, r.stderr)
	}
	dot := in("graph", "--checks", results).stdout
	if !strings.Contains(dot, `"host/peer" -- "address/172.17.0.9" [color=red, fontcolor=red, style=bold, constraint=false, label="FAIL: peer to cm02"];`) ||
		strings.Contains(dot, "FAIL: cm01 to peer") {
		t.Errorf("graph --checks: the failure in red, the pass not:\n%s", dot)
	}
	mermaidShape(t, in("graph", "--checks", results, "--format", "mermaid").stdout)
	if _, err := exec.LookPath("dot"); err == nil {
		titles := svgTitles(t, []byte(in("graph", "--format", "svg").stdout))
		for _, want := range []string{"host/host1", "host/peer", "container/host1/cm01", "network/host1/bridge"} {
			if !titles[want] {
				t.Errorf("svg of the lab has no %s", want)
			}
		}
	}
	if r := in("graph", "--checks", filepath.Join(dir, "nope.json")); r.code != 2 {
		t.Errorf("graph --checks of a missing file: status %d", r.code)
	}
	mustNslab(t, bin, "--root", root, "--lab", id, "down")
}
