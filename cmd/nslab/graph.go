package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nslab/nslab/lab"
)

func newGraphCmd(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "graph [FILE]",
		Short: "Draw a lab's topology: segments, hosts, addresses",
		Long: `Draw the topology of the selected lab, or of a topology FILE without building
it: segments, hosts with their legs and addresses, routes and containers, as
Graphviz dot (` + "`nslab graph | dot -Tsvg > lab.svg`" + `) or as text.`,
		Example: `  nslab graph --format text
  nslab graph fixtures/classroom.yaml | dot -Tpng > classroom.png`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			render, ok := renderers[format]
			if !ok {
				return usageError(fmt.Errorf("--format %q: want dot or text", format))
			}
			var t *lab.Topology
			id := ""
			if len(argv) == 1 {
				var err error
				if t, err = lab.LoadTopology(argv[0]); err != nil {
					return usageError(err)
				}
			} else {
				l, err := a.openLab()
				if err != nil {
					return err
				}
				t, id = l.Topology(), l.ID()
			}
			return render(a.stdout, t, id)
		},
	}
	cmd.Flags().StringVar(&format, "format", "dot", "dot or text")
	return cmd
}

var renderers = map[string]func(io.Writer, *lab.Topology, string) error{
	"dot":  renderDot,
	"text": renderText,
}

// title names the drawing: lab id and topology name, whichever are known.
func title(t *lab.Topology, id string) string {
	var parts []string
	if id != "" {
		parts = append(parts, "lab "+id)
	}
	if t.Name != "" {
		parts = append(parts, t.Name)
	}
	if len(parts) == 0 {
		return "topology"
	}
	return strings.Join(parts, ": ")
}

// renderDot draws segments as boxes, hosts as ellipses (plain hosts
// dashed), containers as small boxes, and a host's legs as edges labelled
// with the interface and its address.
func renderDot(w io.Writer, t *lab.Topology, id string) error {
	var b strings.Builder
	b.WriteString("graph nslab {\n")
	fmt.Fprintf(&b, "  label=%s;\n  labelloc=t;\n", strconv.Quote(title(t, id)))
	b.WriteString("  node [fontname=\"monospace\"];\n  edge [fontname=\"monospace\", fontsize=10];\n")
	for _, s := range t.Segments {
		fmt.Fprintf(&b, "  %s [shape=box, style=filled, fillcolor=lightgrey, label=%s];\n",
			strconv.Quote("segment/"+s.Name), strconv.Quote(s.Name+"\n"+s.Prefix.String()))
	}
	for _, h := range t.Hosts {
		label := h.Name + "\n" + h.Kind
		for _, r := range h.Routes {
			label += "\n" + route(r)
		}
		style := "solid"
		if h.Kind == lab.KindPlain {
			style = "dashed"
		}
		fmt.Fprintf(&b, "  %s [shape=ellipse, style=%s, label=%s];\n", strconv.Quote("host/"+h.Name), style, strconv.Quote(label))
		for _, i := range h.Interfaces {
			label := i.Name
			if i.Address.IsValid() {
				label += "\n" + i.Address.String()
			}
			fmt.Fprintf(&b, "  %s -- %s [label=%s];\n", strconv.Quote("host/"+h.Name), strconv.Quote("segment/"+i.Segment), strconv.Quote(label))
		}
		for _, c := range h.Containers {
			node := strconv.Quote("container/" + h.Name + "/" + c.Name)
			fmt.Fprintf(&b, "  %s [shape=box, fontsize=10, label=%s];\n", node, strconv.Quote(c.Name+"\n"+c.Image))
			fmt.Fprintf(&b, "  %s -- %s [style=dotted, label=%s];\n", strconv.Quote("host/"+h.Name), node, strconv.Quote(network(c)))
		}
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// renderText lists each segment with its members, then each host with its
// legs, routes and containers.
func renderText(w io.Writer, t *lab.Topology, id string) error {
	var b strings.Builder
	b.WriteString(title(t, id))
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
		for _, c := range h.Containers {
			fmt.Fprintf(&b, "    container %s (%s, %s)\n", c.Name, c.Image, network(c))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
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
