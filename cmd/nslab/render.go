package main

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	"github.com/nslab/nslab/lab"
)

// graph is a drawing as nodes and edges, what the dot and Mermaid
// renderers write in their own syntax.
type graph struct {
	title string
	nodes []gnode
	edges []gedge
}

// Kinds of nodes and edges.
const (
	kSegment   = "segment"
	kHost      = "host"  // a docker host
	kPlain     = "plain" // a plain host
	kContainer = "container"
	kStopped   = "stopped" // a container that does not run
	kNetwork   = "network"
	kAddress   = "address"
	kMissing   = "missing" // what a failed check names and the lab does not have

	eLeg      = "leg"      // host to segment: interface and address
	eMode     = "mode"     // host to container: its network mode
	eNetwork  = "network"  // host to one of its daemon's networks
	eEndpoint = "endpoint" // container to network: its address
	eFailed   = "failed"   // a failed check between two nodes
)

type gnode struct {
	id, kind string
	lines    []string
	failed   []string // the failed checks about this node
}

type gedge struct {
	from, to, kind string
	lines          []string
}

// graph lays the drawing out as nodes and edges.
func (d *drawing) graph() graph {
	g := graph{title: d.title()}
	for _, s := range d.topo.Segments {
		g.nodes = append(g.nodes, gnode{id: segmentNode(s.Name), kind: kSegment, lines: []string{s.Name, s.Prefix.String()}})
	}
	for _, h := range d.topo.Hosts {
		lines := []string{h.Name, h.Kind}
		for _, r := range h.Routes {
			lines = append(lines, route(r))
		}
		kind := kHost
		if h.Kind == lab.KindPlain {
			kind = kPlain
		}
		g.nodes = append(g.nodes, gnode{id: hostNode(h.Name), kind: kind, lines: lines})
		for _, i := range h.Interfaces {
			label := []string{i.Name}
			if i.Address.IsValid() {
				label = append(label, i.Address.String())
			}
			g.edges = append(g.edges, gedge{from: hostNode(h.Name), to: segmentNode(i.Segment), kind: eLeg, lines: label})
		}
		if v := d.daemons[h.Name]; v != nil {
			g.addDaemon(h.Name, v)
			continue
		}
		for _, c := range h.Containers {
			node := containerNode(h.Name, c.Name)
			g.nodes = append(g.nodes, gnode{id: node, kind: kContainer, lines: []string{c.Name, c.Image}})
			g.edges = append(g.edges, gedge{from: hostNode(h.Name), to: node, kind: eMode, lines: []string{network(c)}})
		}
	}
	for _, a := range d.extra {
		g.nodes = append(g.nodes, gnode{id: a, kind: kAddress, lines: []string{strings.TrimPrefix(a, "address/")}})
	}
	g.addMissing(d.failed)
	for _, f := range d.failed {
		if f.to != "" {
			g.edges = append(g.edges, gedge{from: f.from, to: f.to, kind: eFailed, lines: []string{f.label}})
			continue
		}
		for i := range g.nodes {
			if g.nodes[i].id == f.from {
				g.nodes[i].failed = append(g.nodes[i].failed, f.label)
			}
		}
	}
	return g
}

// addMissing adds a node for each end of a failure the drawing lacks: a
// container the check names and the daemon does not report.
func (g *graph) addMissing(failed []failure) {
	have := map[string]bool{}
	for _, n := range g.nodes {
		have[n.id] = true
	}
	for _, f := range failed {
		for _, id := range []string{f.from, f.to} {
			if id != "" && !have[id] {
				have[id] = true
				name := id[strings.Index(id, "/")+1:]
				g.nodes = append(g.nodes, gnode{id: id, kind: kMissing, lines: []string{name + " (missing)"}})
			}
		}
	}
}

// addDaemon adds what a host's daemon reports: its networks, and its
// containers joined to them by their addresses (or to the host by their
// network mode, when they are on no network: container:NAME).
func (g *graph) addDaemon(host string, v *daemonView) {
	for _, n := range v.networks {
		lines := []string{n.name, strings.Join(append([]string{n.driver}, n.subnets...), " ")}
		g.nodes = append(g.nodes, gnode{id: networkNode(host, n.name), kind: kNetwork, lines: lines})
		g.edges = append(g.edges, gedge{from: hostNode(host), to: networkNode(host, n.name), kind: eNetwork})
	}
	for _, c := range v.containers {
		kind := kContainer
		if c.state != "running" {
			kind = kStopped
		}
		node := containerNode(host, c.name)
		g.nodes = append(g.nodes, gnode{id: node, kind: kind, lines: []string{c.name, c.image}})
		for _, e := range c.endpoints {
			var label []string
			if e.addr.IsValid() {
				label = []string{e.addr.String()}
			}
			g.edges = append(g.edges, gedge{from: node, to: networkNode(host, e.network), kind: eEndpoint, lines: label})
		}
		if len(c.endpoints) == 0 {
			g.edges = append(g.edges, gedge{from: hostNode(host), to: node, kind: eMode, lines: []string{"network " + c.mode}})
		}
	}
}

// dotNodeAttrs and dotEdgeAttrs are each kind's look in dot.
var (
	dotNodeAttrs = map[string]string{
		kSegment:   "shape=box, style=filled, fillcolor=lightgrey",
		kHost:      "shape=ellipse, style=solid",
		kPlain:     "shape=ellipse, style=dashed",
		kContainer: "shape=box, fontsize=10",
		kStopped:   "shape=box, fontsize=10, style=dashed",
		kNetwork:   "shape=hexagon, fontsize=10",
		kAddress:   "shape=plaintext",
		kMissing:   "shape=box, fontsize=10, style=dotted",
	}
	dotEdgeAttrs = map[string]string{
		eLeg:      "",
		eMode:     "style=dotted",
		eNetwork:  "style=dotted",
		eEndpoint: "fontsize=9",
		eFailed:   "color=red, fontcolor=red, style=bold, constraint=false",
	}
)

// renderDot draws segments as boxes, hosts as ellipses (plain hosts
// dashed), containers as small boxes, networks as hexagons, a host's legs as
// edges labelled with the interface and its address, and failures in red.
func renderDot(w io.Writer, d *drawing) error {
	g := d.graph()
	var b strings.Builder
	b.WriteString("graph nslab {\n")
	fmt.Fprintf(&b, "  label=%s;\n  labelloc=t;\n", strconv.Quote(g.title))
	b.WriteString("  node [fontname=\"monospace\"];\n  edge [fontname=\"monospace\", fontsize=10];\n")
	for _, n := range g.nodes {
		attrs := dotNodeAttrs[n.kind]
		lines := n.lines
		if len(n.failed) > 0 {
			attrs += ", color=red, fontcolor=red, penwidth=2"
			lines = append(append([]string{}, lines...), n.failed...)
		}
		fmt.Fprintf(&b, "  %s [%s, label=%s];\n", strconv.Quote(n.id), attrs, strconv.Quote(strings.Join(lines, "\n")))
	}
	for _, e := range g.edges {
		var attrs []string
		if a := dotEdgeAttrs[e.kind]; a != "" {
			attrs = append(attrs, a)
		}
		if len(e.lines) > 0 {
			attrs = append(attrs, "label="+strconv.Quote(strings.Join(e.lines, "\n")))
		}
		fmt.Fprintf(&b, "  %s -- %s", strconv.Quote(e.from), strconv.Quote(e.to))
		if len(attrs) > 0 {
			fmt.Fprintf(&b, " [%s]", strings.Join(attrs, ", "))
		}
		b.WriteString(";\n")
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// renderSVG renders the dot drawing with Graphviz.
func renderSVG(w io.Writer, d *drawing) error {
	dot, err := exec.LookPath("dot")
	if err != nil {
		return errNoDot
	}
	var src, out, errb bytes.Buffer
	if err := renderDot(&src, d); err != nil {
		return err
	}
	cmd := exec.Command(dot, "-Tsvg")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = &src, &out, &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("dot -Tsvg: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	_, err = w.Write(out.Bytes())
	return err
}

// Mermaid's shapes and lines for each kind.
var (
	mermaidShapes = map[string][2]string{
		kSegment:   {"[[", "]]"},
		kHost:      {"([", "])"},
		kPlain:     {"([", "])"},
		kContainer: {"[", "]"},
		kStopped:   {"[", "]"},
		kNetwork:   {"{{", "}}"},
		kAddress:   {">", "]"},
		kMissing:   {"[", "]"},
	}
	mermaidLinks = map[string]string{
		eLeg: "---", eMode: "-.-", eNetwork: "-.-", eEndpoint: "---", eFailed: "-.->",
	}
)

var mermaidIDChars = regexp.MustCompile(`[^A-Za-z0-9_]`)

// mermaidText quotes a label: Mermaid takes #quot; for a quote and <br> for
// a new line inside "...".
func mermaidText(lines []string) string {
	s := strings.Join(lines, "<br>")
	return `"` + strings.ReplaceAll(s, `"`, "#quot;") + `"`
}

// renderMermaid writes a Mermaid flowchart: segments as subroutines,
// hosts as stadiums (plain ones dashed), containers as boxes, networks as
// hexagons, failures in red.
func renderMermaid(w io.Writer, d *drawing) error {
	g := d.graph()
	ids := map[string]string{}
	used := map[string]bool{}
	var b strings.Builder
	b.WriteString("flowchart TB\n")
	fmt.Fprintf(&b, "  %%%% %s\n", g.title)
	classes := map[string][]string{}
	for _, n := range g.nodes {
		id := mermaidIDChars.ReplaceAllString(n.id, "_")
		for base, k := id, 2; used[id]; k++ {
			id = fmt.Sprintf("%s_%d", base, k)
		}
		used[id], ids[n.id] = true, id
		shape := mermaidShapes[n.kind]
		fmt.Fprintf(&b, "  %s%s%s%s\n", id, shape[0], mermaidText(append(append([]string{}, n.lines...), n.failed...)), shape[1])
		switch {
		case len(n.failed) > 0:
			classes["failed"] = append(classes["failed"], id)
		case n.kind == kPlain || n.kind == kStopped || n.kind == kMissing:
			classes["dashed"] = append(classes["dashed"], id)
		case n.kind == kSegment:
			classes["segment"] = append(classes["segment"], id)
		}
	}
	var red []string
	for i, e := range g.edges {
		link := mermaidLinks[e.kind]
		if len(e.lines) > 0 {
			link += "|" + mermaidText(e.lines) + "|"
		}
		fmt.Fprintf(&b, "  %s %s %s\n", ids[e.from], link, ids[e.to])
		if e.kind == eFailed {
			red = append(red, strconv.Itoa(i))
		}
	}
	b.WriteString("  classDef segment fill:#ddd\n  classDef dashed stroke-dasharray:4 2\n  classDef failed stroke:red,color:red,stroke-width:2px\n")
	for _, c := range []string{"segment", "dashed", "failed"} {
		if len(classes[c]) > 0 {
			fmt.Fprintf(&b, "  class %s %s\n", strings.Join(classes[c], ","), c)
		}
	}
	if len(red) > 0 {
		fmt.Fprintf(&b, "  linkStyle %s stroke:red,color:red,stroke-width:2px\n", strings.Join(red, ","))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// renderText lists each segment with its members, then each host with its
// legs, routes, and networks and containers, then the failed checks.
func renderText(w io.Writer, d *drawing) error {
	t := d.topo
	var b strings.Builder
	b.WriteString(d.title())
	if t.File != "" {
		b.WriteString(" (" + t.File + ")")
	}
	b.WriteString("\n\nsegments\n")
	for _, s := range t.Segments {
		fmt.Fprintf(&b, "  %s %s\n", s.Name, s.Prefix)
		var members []string
		for _, h := range t.Hosts {
			for _, i := range h.Interfaces {
				if i.Segment == s.Name {
					members = append(members, h.Name+":"+i.Name+" "+addr(i))
				}
			}
		}
		for n, m := range members {
			branch := "├─"
			if n == len(members)-1 {
				branch = "└─"
			}
			fmt.Fprintf(&b, "    %s %s\n", branch, m)
		}
	}
	b.WriteString("\nhosts\n")
	for _, h := range t.Hosts {
		fmt.Fprintf(&b, "  %s (%s)\n", h.Name, h.Kind)
		for _, i := range h.Interfaces {
			fmt.Fprintf(&b, "    %s %s → %s\n", i.Name, addr(i), i.Segment)
		}
		for _, r := range h.Routes {
			fmt.Fprintf(&b, "    route %s\n", route(r))
		}
		if v := d.daemons[h.Name]; v != nil {
			writeDaemonText(&b, v)
			continue
		}
		for _, c := range h.Containers {
			fmt.Fprintf(&b, "    container %s (%s, %s)\n", c.Name, c.Image, network(c))
		}
	}
	if len(d.failed) > 0 {
		b.WriteString("\nfailed checks\n")
		for _, f := range d.failed {
			where := f.from
			if f.to != "" {
				where += " → " + f.to
			}
			fmt.Fprintf(&b, "  %s (%s)\n", strings.TrimPrefix(f.label, "FAIL: "), where)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeDaemonText(b *strings.Builder, v *daemonView) {
	for _, n := range v.networks {
		fmt.Fprintf(b, "    network %s (%s, %s", n.name, n.driver, n.scope)
		for _, s := range n.subnets {
			fmt.Fprintf(b, ", %s", s)
		}
		b.WriteString(")\n")
	}
	for _, c := range v.containers {
		var on []string
		for _, e := range c.endpoints {
			s := e.network
			if e.addr.IsValid() {
				s += " " + e.addr.String()
			}
			on = append(on, s)
		}
		if len(on) == 0 {
			on = []string{"network " + c.mode}
		}
		fmt.Fprintf(b, "    container %s (%s, %s; %s)\n", c.name, c.image, c.state, strings.Join(on, ", "))
	}
}

func addr(i lab.InterfaceSpec) string {
	if !i.Address.IsValid() {
		return "(no address)"
	}
	return i.Address.String()
}

func route(r lab.RouteSpec) string {
	to := r.To.String()
	if r.To.Bits() == 0 {
		to = "default"
	}
	return to + " via " + r.Via.String()
}

func network(c lab.ContainerSpec) string {
	if c.Network == "" {
		return "network default"
	}
	return "network " + c.Network
}
