package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nslab/nslab/lab"
)

// linkFlags are the options of `nslab link ... set` and `show`.
type linkFlags struct {
	rate, loss, delay, jitter, dir string
	json                           bool
}

func newLinkCmd(a *app) *cobra.Command {
	var f linkFlags
	cmd := &cobra.Command{
		Use:   "link HOST IFACE down|up|set|clear|show",
		Short: "Unplug, plug in, slow down or make lossy the link of a host interface",
		Long: `Act on the link of a host interface (eth1, ...) into its segment, as on a cable.

  down   unplugs it: the host's interface keeps its addresses and routes but loses
         its carrier (NO-CARRIER), and the segment's switch disables the port
  up     plugs it in again
  set    degrades it: --rate caps it (tbf; 10mbit, 500kbit, 1gbit: bits per second
         counted on whole frames), --loss drops a share of the frames (20%), --delay
         and --jitter hold them (netem, where the kernel has it). --dir says which
         way: both (default), out (what the host sends) or in (what it receives);
         set replaces what degraded that way before
  clear  removes every degradation, both ways
  show   prints both ends of the link and what degrades each way, from the kernel

All of it happens at the switch's end of the link, in the lab's fabric
namespace: inside the host, its qdiscs and firewall stay as they were.`,
		Example: `  nslab link node1 eth1 down
  nslab exec node1 -- ip link show eth1       # NO-CARRIER
  nslab link node1 eth1 up
  nslab link node1 eth1 set --rate 10mbit --loss 5%
  nslab link node1 eth1 set --rate 1mbit --dir out
  nslab link node1 eth1 show
  nslab link node1 eth1 clear`,
		Args: args(cobra.ExactArgs(3)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			host, iface, verb := argv[0], argv[1], argv[2]
			do, err := linkAction(verb, f, a.stdout)
			if err != nil {
				return usageError(err)
			}
			if err := onlyFlagsOf(cmd, verb); err != nil {
				return usageError(err)
			}
			h, err := a.openHost(host)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			return do(ctx, h, iface)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.rate, "rate", "", "set: cap the link at this rate (10mbit, 500kbit)")
	fl.StringVar(&f.loss, "loss", "", "set: drop this share of the frames (20%)")
	fl.StringVar(&f.delay, "delay", "", "set: hold every frame this long (10ms); needs netem")
	fl.StringVar(&f.jitter, "jitter", "", "set: vary the delay by up to this much (2ms); needs netem")
	fl.StringVar(&f.dir, "dir", lab.DirBoth, "set: both, out (what the host sends) or in (what it receives)")
	fl.BoolVar(&f.json, "json", false, "show: print the link as JSON")
	return cmd
}

// linkVerbFlags says which flags each verb takes.
var linkVerbFlags = map[string][]string{
	"set":  {"rate", "loss", "delay", "jitter", "dir"},
	"show": {"json"},
}

// onlyFlagsOf refuses a flag the verb does not take, rather than ignore it.
func onlyFlagsOf(cmd *cobra.Command, verb string) error {
	var bad []string
	for _, name := range []string{"rate", "loss", "delay", "jitter", "dir", "json"} {
		if cmd.Flags().Changed(name) && !slices.Contains(linkVerbFlags[verb], name) {
			bad = append(bad, "--"+name)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("link %s takes no %s", verb, strings.Join(bad, ", "))
	}
	return nil
}

// linkAction checks the verb and its flags before any lab is opened and
// returns what it does.
func linkAction(verb string, f linkFlags, w io.Writer) (func(context.Context, *lab.Host, string) error, error) {
	switch verb {
	case "down", "up":
		return func(ctx context.Context, h *lab.Host, iface string) error {
			return h.SetLink(ctx, iface, verb == "up")
		}, nil
	case "clear":
		return func(ctx context.Context, h *lab.Host, iface string) error { return h.ClearImpairment(ctx, iface) }, nil
	case "show":
		return func(ctx context.Context, h *lab.Host, iface string) error {
			s, err := h.Link(ctx, iface)
			if err != nil {
				return err
			}
			if f.json {
				return writeJSON(w, s)
			}
			return printLink(w, s)
		}, nil
	case "set":
		m, err := f.impairment()
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, h *lab.Host, iface string) error {
			if err := h.Impair(ctx, iface, m); err != nil {
				return err
			}
			s, err := h.Link(ctx, iface)
			if err != nil {
				return err
			}
			return printLink(w, s)
		}, nil
	}
	return nil, fmt.Errorf("link HOST IFACE %s: want down, up, set, clear or show", verb)
}

// impairment reads set's flags.
func (f linkFlags) impairment() (lab.Impairment, error) {
	m := lab.Impairment{Direction: f.dir}
	for _, opt := range []struct {
		name, value string
		parse       func(string) error
	}{
		{"--rate", f.rate, func(s string) (err error) { m.Rate, err = lab.ParseRate(s); return err }},
		{"--loss", f.loss, func(s string) (err error) { m.Loss, err = lab.ParseLoss(s); return err }},
		{"--delay", f.delay, func(s string) (err error) { m.Delay, err = lab.ParseDelay(s); return err }},
		{"--jitter", f.jitter, func(s string) (err error) { m.Jitter, err = lab.ParseDelay(s); return err }},
	} {
		if opt.value == "" {
			continue
		}
		if err := opt.parse(opt.value); err != nil {
			return m, fmt.Errorf("%s: %w", opt.name, err)
		}
	}
	if m.IsZero() {
		return m, fmt.Errorf("link set: give --rate, --loss or --delay (clear removes them)")
	}
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("link set: %w", err)
	}
	return m, nil
}

// printLink writes a link's state as a few lines.
func printLink(w io.Writer, s lab.LinkStatus) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s → segment %s\n", s.Host, s.Interface, s.Segment)
	fmt.Fprintf(&b, "  host end    %-6s %s\n", s.HostEnd.Name, endState(s.HostEnd))
	fmt.Fprintf(&b, "  switch end  %-6s %s\n", s.FabricEnd.Name, endState(s.FabricEnd))
	fmt.Fprintf(&b, "  out (%s sends)     %s\n", s.Host, shaping(s.Out))
	fmt.Fprintf(&b, "  in  (%s receives)  %s\n", s.Host, shaping(s.In))
	_, err := io.WriteString(w, b.String())
	return err
}

func endState(e lab.LinkEnd) string {
	admin, carrier := "down", "no carrier"
	if e.Up {
		admin = "up"
	}
	if e.Carrier {
		carrier = "carrier"
	}
	return fmt.Sprintf("%s, %s (operstate %s)", admin, carrier, e.OperState)
}

func shaping(s lab.Shaping) string {
	m := lab.Impairment{Rate: s.Rate, Loss: s.Loss, Delay: s.Delay, Jitter: s.Jitter}
	if m.IsZero() {
		return "clean"
	}
	out := m.String()
	if s.Loss > 0 {
		out += fmt.Sprintf(" (%d frames dropped so far)", s.Dropped)
	}
	return out
}
