package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/undo"
)

// A host interface's link is its veth leg: the host end (eth1, ...) and the
// fabric end (h<host>i<iface>), a port of the segment's bridge. Everything
// done to a link here happens at the fabric end, in the lab's own fabric
// namespace, so the host sees what a machine sees of its cable and nothing
// more:
//
//   - unplugged (SetLink down): the fabric end goes down, so the host end
//     loses its carrier (NO-CARRIER, operstate down) while staying up, and
//     the bridge disables the port. The host keeps its addresses and routes
//     (the kernel only marks them linkdown), as with a pulled cable; setting
//     the host end itself down would make the kernel delete its routes.
//   - out (what the host sends): the fabric end's ingress is redirected to
//     an ifb device "<leg>-out" whose root qdisc shapes it, and an nftables
//     chain "<leg>-out" on the fabric end's ingress hook drops the lost share.
//   - in (what the host receives): the fabric end's own root qdisc shapes,
//     and a chain "<leg>-in" on its egress hook drops.
//
// Rates are tbf qdiscs, delays netem qdiscs (below a tbf, when both), and
// loss is nftables' numgen random in the netdev table linkTable.

// linkTable is the nftables table of the fabric namespace that holds the
// loss chains.
const linkTable = "nslab-links"

// ErrNoNetem: the kernel has no netem qdisc, which delay and jitter need.
var ErrNoNetem = errors.New("delay and jitter need the kernel's netem qdisc (sch_netem, CONFIG_NET_SCH_NETEM), which this kernel lacks")

// NetemSupport asks the kernel, once per process, whether it can make a
// netem qdisc: it adds one to the loopback of a throwaway namespace. The
// error wraps ErrNoNetem and says what the kernel answered.
var NetemSupport = sync.OnceValue(func() error {
	err := netns.DoFresh(func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		defer h.Close()
		lo, err := h.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("lo: %w", err)
		}
		q := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: lo.Attrs().Index, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(1, 0)},
			netlink.NetemQdiscAttrs{Latency: 1000})
		if err := h.QdiscAdd(q); errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("%w: it knows no qdisc kind \"netem\" (%v)", ErrNoNetem, err)
		} else if err != nil {
			return fmt.Errorf("%w: adding one failed: %v", ErrNoNetem, err)
		}
		return nil
	})
	return err
})

// LinkEnd is one end of a veth leg as the kernel reports it.
type LinkEnd struct {
	Name string `json:"name"`
	// Up is the administrative state (IFF_UP), Carrier whether the other
	// end is there (IFF_LOWER_UP), OperState the kernel's operstate.
	Up        bool   `json:"up"`
	Carrier   bool   `json:"carrier"`
	OperState string `json:"operstate"`
}

// Shaping is what degrades one direction of a link, read from the kernel.
type Shaping struct {
	Rate   uint64        `json:"rate,omitempty"` // bits per second
	Loss   float64       `json:"loss,omitempty"` // percent
	Delay  time.Duration `json:"delay,omitempty"`
	Jitter time.Duration `json:"jitter,omitempty"`
	// Dropped counts the frames the loss rule dropped so far.
	Dropped uint64 `json:"dropped,omitempty"`
}

func (s Shaping) isZero() bool { return s.Rate == 0 && s.Loss == 0 && s.Delay == 0 && s.Jitter == 0 }

// LinkStatus is a host interface's link as the kernel has it.
type LinkStatus struct {
	Host      string  `json:"host"`
	Interface string  `json:"interface"`
	Segment   string  `json:"segment"`
	HostEnd   LinkEnd `json:"hostEnd"`
	FabricEnd LinkEnd `json:"fabricEnd"`
	// Out shapes what the host sends, In what it receives.
	Out Shaping `json:"out"`
	In  Shaping `json:"in"`
}

// leg finds a host interface and the fabric end of its veth leg.
func (h *Host) leg(iface string) (InterfaceSpec, string, error) {
	var names []string
	for j, i := range h.Spec.Interfaces {
		if i.Name == iface {
			return i, legName(h.index, j), nil
		}
		names = append(names, i.Name)
	}
	if len(names) == 0 {
		return InterfaceSpec{}, "", fmt.Errorf("host %s has no interfaces into segments", h.Name)
	}
	return InterfaceSpec{}, "", fmt.Errorf("host %s has no interface %q into a segment (it has %s)", h.Name, iface, strings.Join(names, ", "))
}

// onLeg runs fn with the fabric end of a host interface's leg and a
// connection to the fabric namespace; its error names host and interface.
func (h *Host) onLeg(iface string, fn func(f *fabricConn, leg string) error) error {
	_, leg, err := h.leg(iface)
	if err != nil {
		return err
	}
	f, err := openFabric(h.lab.ID())
	if err == nil {
		defer f.close()
		err = fn(f, leg)
	}
	if err != nil {
		return fmt.Errorf("host %s: link %s: %w", h.Name, iface, err)
	}
	return nil
}

// SetLink plugs (up) or unplugs (down) the cable of a host interface: the
// fabric end of its leg goes up or down. See the top of this file.
func (h *Host) SetLink(ctx context.Context, iface string, up bool) error {
	return h.onLeg(iface, func(f *fabricConn, leg string) error {
		l, err := f.h.LinkByName(leg)
		if err != nil {
			return fmt.Errorf("fabric end %s: %w", leg, err)
		}
		set, verb := f.h.LinkSetDown, "down"
		if up {
			set, verb = f.h.LinkSetUp, "up"
		}
		if err := netns.RetryTransient(ctx, func() error { return set(l) }); err != nil {
			return fmt.Errorf("set fabric end %s %s: %w", leg, verb, err)
		}
		return nil
	})
}

// Impair degrades a host interface's link in the directions m names,
// replacing what degraded those directions before; the other direction is
// left as it is. Nothing changes when m is invalid or asks for a delay the
// kernel cannot make; should a later step fail, the directions are put back
// as they were.
func (h *Host) Impair(ctx context.Context, iface string, m Impairment) error {
	if _, _, err := h.leg(iface); err != nil {
		return err
	}
	err := m.Validate()
	if err == nil && (m.Delay > 0 || m.Jitter > 0) {
		err = NetemSupport()
	}
	if err != nil {
		return fmt.Errorf("host %s: link %s: %w", h.Name, iface, err)
	}
	want := Shaping{Rate: m.Rate, Loss: m.Loss, Delay: m.Delay, Jitter: m.Jitter}
	out, in := m.ways()
	return h.onLeg(iface, func(f *fabricConn, leg string) (err error) {
		var u undo.Steps
		var undoErrs []error
		defer func() {
			if err != nil {
				u.Run()
				err = errors.Join(append([]error{err}, undoErrs...)...)
			}
		}()
		failed := func(e error) { undoErrs = append(undoErrs, fmt.Errorf("and putting it back: %w", e)) }
		for _, w := range [...]struct {
			way string
			on  bool
		}{{DirOut, out}, {DirIn, in}} {
			if !w.on {
				continue
			}
			if err := f.replace(ctx, leg, w.way, want, &u, failed); err != nil {
				return err
			}
		}
		return nil
	})
}

// ClearImpairment removes whatever degrades a host interface's link, both
// ways. A link that has none is left as it is.
func (h *Host) ClearImpairment(ctx context.Context, iface string) error {
	return h.onLeg(iface, func(f *fabricConn, leg string) error {
		return errors.Join(f.clear(leg, DirOut), f.clear(leg, DirIn))
	})
}

// Link reads a host interface's link from the kernel: both ends of its leg
// and what degrades each direction.
func (h *Host) Link(ctx context.Context, iface string) (LinkStatus, error) {
	spec, _, err := h.leg(iface)
	if err != nil {
		return LinkStatus{}, err
	}
	s := LinkStatus{Host: h.Name, Interface: iface, Segment: spec.Segment}
	err = h.onLeg(iface, func(f *fabricConn, leg string) error {
		hh, err := netns.Handle(h.NetNS())
		if err != nil {
			return err
		}
		defer hh.Close()
		if s.HostEnd, err = linkEnd(hh, iface); err != nil {
			return fmt.Errorf("host end: %w", err)
		}
		if s.FabricEnd, err = linkEnd(f.h, leg); err != nil {
			return fmt.Errorf("fabric end: %w", err)
		}
		if s.Out, err = f.read(leg, DirOut); err != nil {
			return err
		}
		s.In, err = f.read(leg, DirIn)
		return err
	})
	if err != nil {
		return LinkStatus{}, err
	}
	return s, nil
}

func linkEnd(h *netlink.Handle, name string) (LinkEnd, error) {
	l, err := h.LinkByName(name)
	if err != nil {
		return LinkEnd{}, fmt.Errorf("%s: %w", name, err)
	}
	a := l.Attrs()
	return LinkEnd{
		Name:      name,
		Up:        a.Flags&net.FlagUp != 0,
		Carrier:   a.RawFlags&unix.IFF_LOWER_UP != 0,
		OperState: a.OperState.String(),
	}, nil
}

// applyImpairments degrades the links the topology says, once the hosts
// exist.
func (l *Lab) applyImpairments(ctx context.Context) error {
	for _, h := range l.hosts {
		for _, i := range h.Spec.Interfaces {
			if i.Impairment == nil || i.Impairment.IsZero() {
				continue
			}
			if err := h.Impair(ctx, i.Name, *i.Impairment); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkKernelFor refuses, before anything is made, a topology that asks for
// what the kernel cannot do: a delay or jitter without netem.
func (t *Topology) checkKernelFor() error {
	var ps []Problem
	for i, h := range t.Hosts {
		for j, f := range h.Interfaces {
			if m := f.Impairment; m != nil && (m.Delay > 0 || m.Jitter > 0) {
				if err := NetemSupport(); err != nil {
					ps = append(ps, Problem{File: t.File, Field: fmt.Sprintf("hosts[%d].interfaces[%d].delay", i, j), Message: err.Error(), Err: err})
				}
			}
		}
	}
	if len(ps) > 0 {
		return &TopologyError{Problems: ps}
	}
	return nil
}
