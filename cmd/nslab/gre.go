package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nslab/nslab/hostd/api"
	"github.com/nslab/nslab/lab"
)

func newGRECmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gre HOST add NAME local A remote B [key K] [csum] [bridge BR] [mtu M] | gre HOST del NAME | gre HOST ls",
		Short: "Make, remove and list Ethernet-over-GRE tunnels on a docker host",
		Long: `Make an Ethernet-over-GRE (gretap) tunnel on a docker host, as
` + "`ip link add NAME type gretap local A remote B [key K] [csum]`" + ` does, and join it
to a Linux bridge of the host (` + "`bridge docker0`" + `): the tunnel that is otherwise built with
Open vSwitch (` + "`ovs-vsctl add-port br0 gre0 -- set interface gre0 type=gre options:remote_ip=B`" + `).
hostd makes it in the host's namespace with the kernel's gretap where the kernel
has one and otherwise with its userspace gretap (a TAP device and a raw socket
for IP protocol 47); both put the same packets on the wire. Without mtu, the
link gets the kernel's: the MTU towards B less the encapsulation (1462 on a
1500 underlay, less 4 for a key and 4 for csum). The tunnel lasts until ` + "`del`" + ` or
until hostd stops.`,
		Example: `  nslab gre node2 add gre0 local 192.168.99.102 remote 192.168.99.101 bridge docker0
  nslab gre node1 add gre0 local 192.168.99.101 remote 192.168.99.102 key 7 csum bridge docker0
  nslab gre node1 ls
  nslab gre node1 del gre0`,
		Args: args(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			host, verb, rest := argv[0], argv[1], argv[2:]
			var do func(context.Context, *hostdAPI) error
			switch verb {
			case "add":
				spec, err := parseGREAdd(rest)
				if err != nil {
					return usageError(err)
				}
				do = func(ctx context.Context, api *hostdAPI) error { return greAdd(ctx, api, spec, a.stdout) }
			case "del", "delete":
				if len(rest) != 1 {
					return usageError(errors.New("gre HOST del NAME: one tunnel name"))
				}
				do = func(ctx context.Context, api *hostdAPI) error {
					return api.call(ctx, "DELETE", "/nslab/gre/"+url.PathEscape(rest[0]), nil, nil)
				}
			case "ls", "list", "show":
				if len(rest) != 0 {
					return usageError(fmt.Errorf("gre HOST ls takes no arguments, got %q", strings.Join(rest, " ")))
				}
				do = func(ctx context.Context, api *hostdAPI) error { return greList(ctx, api, a.stdout) }
			default:
				return usageError(fmt.Errorf("gre %s %s: want add, del or ls", host, verb))
			}
			l, err := a.openLab()
			if err != nil {
				return err
			}
			api, err := hostdOf(l, host)
			if err != nil {
				return err
			}
			defer api.close()
			return do(cmd.Context(), api)
		},
	}
	// `key`, `csum` and the rest are words, as for ip(8), not flags.
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// parseGREAdd reads "NAME local A remote B [key K] [csum] [bridge BR] [mtu
// M]" in any order after NAME, as ip-link takes its words.
func parseGREAdd(words []string) (api.GRETunnel, error) {
	var t api.GRETunnel
	if len(words) == 0 {
		return t, errors.New("gre HOST add: missing NAME")
	}
	t.Name, words = words[0], words[1:]
	seen := map[string]bool{}
	for len(words) > 0 {
		w := words[0]
		if seen[w] {
			return t, fmt.Errorf("gre add %s: %q given twice", t.Name, w)
		}
		seen[w] = true
		if w == "csum" {
			t.Checksum = true
			words = words[1:]
			continue
		}
		if len(words) < 2 {
			return t, fmt.Errorf("gre add %s: %q needs a value", t.Name, w)
		}
		v := words[1]
		words = words[2:]
		switch w {
		case "local", "remote":
			a, err := netip.ParseAddr(v)
			if err != nil || !a.Is4() {
				return t, fmt.Errorf("gre add %s: %s %q is not an IPv4 address", t.Name, w, v)
			}
			if w == "local" {
				t.Local = a.String()
			} else {
				t.Remote = a.String()
			}
		case "key":
			k, err := parseGREKey(v)
			if err != nil {
				return t, fmt.Errorf("gre add %s: %w", t.Name, err)
			}
			t.Key = &k
		case "bridge", "master":
			t.Bridge = v
		case "mtu":
			m, err := strconv.Atoi(v)
			if err != nil || m <= 0 {
				return t, fmt.Errorf("gre add %s: mtu %q is not a positive number", t.Name, v)
			}
			t.MTU = m
		default:
			return t, fmt.Errorf("gre add %s: unknown word %q (want local, remote, key, csum, bridge, mtu)", t.Name, w)
		}
	}
	if t.Local == "" || t.Remote == "" {
		return t, fmt.Errorf("gre add %s: local and remote are required", t.Name)
	}
	return t, nil
}

// parseGREKey reads a key as ip-link does: a number, or four bytes in
// dotted form.
func parseGREKey(s string) (uint32, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		b := a.As4()
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), nil
	}
	k, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("key %q is neither a 32-bit number nor a dotted quad", s)
	}
	return uint32(k), nil
}

func greAdd(ctx context.Context, daemon *hostdAPI, spec api.GRETunnel, w io.Writer) error {
	var t api.GRETunnel
	if err := daemon.call(ctx, "POST", "/nslab/gre", spec, &t); err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: gretap local %s remote %s%s, mtu %d, %s\n", t.Name, t.Local, t.Remote, greExtras(t), t.MTU, t.Impl)
	return nil
}

// greExtras is the optional part of a tunnel's description.
func greExtras(t api.GRETunnel) string {
	var s string
	if t.Key != nil {
		s += fmt.Sprintf(" key %d", *t.Key)
	}
	if t.Checksum {
		s += " csum"
	}
	if t.Bridge != "" {
		s += ", bridge " + t.Bridge
	}
	return s
}

func greList(ctx context.Context, daemon *hostdAPI, w io.Writer) error {
	var ts []api.GRETunnel
	if err := daemon.call(ctx, "GET", "/nslab/gre", nil, &ts); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tLOCAL\tREMOTE\tKEY\tCSUM\tBRIDGE\tMTU\tIMPL\tTX PACKETS\tRX PACKETS")
	for _, t := range ts {
		key, bridge := "-", "-"
		if t.Key != nil {
			key = strconv.FormatUint(uint64(*t.Key), 10)
		}
		if t.Bridge != "" {
			bridge = t.Bridge
		}
		var tx, rx uint64
		if t.Stats != nil {
			tx, rx = t.Stats.TxPackets, t.Stats.RxPackets
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\t%d\t%s\t%d\t%d\n", t.Name, t.Local, t.Remote, key, t.Checksum, bridge, t.MTU, t.Impl, tx, rx)
	}
	return tw.Flush()
}

// labView is the lab as `nslab inspect` shows it: the kernel's view of
// every host, with the GRE tunnels its hostd made.
type labView struct {
	*lab.Description
	Hosts []hostView `json:"hosts"`
}

// hostView is one host with its tunnels and the implementation of each
// ("kernel" or "userspace"), as hostd reports them.
type hostView struct {
	lab.HostDescription
	Tunnels []api.GRETunnel `json:"tunnels,omitempty"`
}

// withTunnels adds each docker host's tunnels to the description; a host
// whose hostd does not answer is shown without, with a warning, and one
// that runs dockerd without either.
func (a *app) withTunnels(ctx context.Context, l *lab.Lab, d *lab.Description) labView {
	v := labView{Description: d}
	for _, hd := range d.Hosts {
		hv := hostView{HostDescription: hd}
		if hd.Socket != "" {
			if err := a.hostTunnels(ctx, l, hd.Name, &hv.Tunnels); err != nil && !errors.Is(err, errNoNslabAPI) {
				fmt.Fprintf(a.stderr, "nslab: inspect: host %s: gre tunnels: %v\n", hd.Name, err)
			}
		}
		v.Hosts = append(v.Hosts, hv)
	}
	return v
}

func (a *app) hostTunnels(ctx context.Context, l *lab.Lab, host string, out *[]api.GRETunnel) error {
	api, err := hostdOf(l, host)
	if err != nil {
		return err
	}
	defer api.close()
	return api.call(ctx, "GET", "/nslab/gre", nil, out)
}
