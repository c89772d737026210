package gre

import (
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"

	"github.com/nslab/nslab/netns"
)

var kernelProbe struct {
	sync.Once
	err error
}

// KernelAvailable says whether this kernel can create a gretap link. It
// probes once per process by creating and deleting one in a throwaway
// namespace that nobody else sees (see KernelProbe for the reason if not).
func KernelAvailable() bool { return KernelProbe() == nil }

// KernelProbe is the result of the probe behind KernelAvailable: nil when
// the kernel makes gretap links, else why it did not ("operation not
// supported" when the module is missing and cannot be loaded).
func KernelProbe() error {
	kernelProbe.Do(func() {
		kernelProbe.err = netns.DoFresh(func() error {
			h, err := openHandle()
			if err != nil {
				return err
			}
			defer h.Close()
			// Documentation addresses (RFC 5737): the link is never up and
			// the namespace has no routes, so nothing could be sent anyway.
			g := kernelLink(Config{
				Name:   "greprobe0",
				Local:  netip.MustParseAddr("192.0.2.1"),
				Remote: netip.MustParseAddr("192.0.2.2"),
			})
			if err := h.LinkAdd(g); err != nil {
				return fmt.Errorf("create gretap in a scratch namespace: %w", err)
			}
			return h.LinkDel(g)
		})
	})
	return kernelProbe.err
}

// kernelTunnel is the kernel's gretap link.
type kernelTunnel struct {
	name string
	h    *netlink.Handle
	once sync.Once
	err  error
}

// kernelLink is cfg as the kernel's gretap link attributes. Like `ip link
// add type gretap`, it asks for path MTU discovery (DF on the outer header);
// an MTU of 0 lets the kernel compute it from the route to Remote.
func kernelLink(cfg Config) *netlink.Gretap {
	la := netlink.NewLinkAttrs()
	la.Name = cfg.Name
	la.MTU = cfg.MTU
	g := &netlink.Gretap{
		LinkAttrs: la,
		Local:     net.IP(cfg.Local.AsSlice()),
		Remote:    net.IP(cfg.Remote.AsSlice()),
		PMtuDisc:  1,
	}
	if cfg.Key != nil {
		// The flag, not only the value: key 0 is a key too.
		g.IKey, g.OKey = *cfg.Key, *cfg.Key
		g.IFlags |= nl.GRE_KEY
		g.OFlags |= nl.GRE_KEY
	}
	if cfg.Checksum {
		g.IFlags |= nl.GRE_CSUM
		g.OFlags |= nl.GRE_CSUM
	}
	return g
}

// CreateKernel makes the kernel's gretap link in the calling thread's
// network namespace (call it from inside netns.Do), enslaved to cfg.Bridge
// if set, and up.
func CreateKernel(cfg Config) (Tunnel, error) {
	return create(cfg, "kernel", newKernelTunnel)
}

func newKernelTunnel(cfg Config) (*kernelTunnel, error) {
	h, err := openHandle()
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*kernelTunnel, error) {
		h.Close()
		return nil, err
	}
	if err := checkFree(h, cfg.Name); err != nil {
		return fail(err)
	}
	if cfg.Bridge != "" {
		if err := checkBridge(h, cfg.Bridge); err != nil {
			return fail(err)
		}
	}
	if err := h.LinkAdd(kernelLink(cfg)); err != nil {
		return fail(fmt.Errorf("create gretap: %w", err))
	}
	if err := attach(h, cfg.Name, cfg.Bridge); err != nil {
		netns.DeleteLink(h, cfg.Name)
		return fail(err)
	}
	return &kernelTunnel{name: cfg.Name, h: h}, nil
}

func (t *kernelTunnel) Name() string { return t.name }
func (t *kernelTunnel) Impl() string { return ImplKernel }

// Stats reads the link's statistics; the kernel counts checksum failures
// as CRC errors and has no counters for the other drop reasons.
func (t *kernelTunnel) Stats() Stats {
	l, err := t.h.LinkByName(t.name)
	if err != nil || l.Attrs().Statistics == nil {
		return Stats{}
	}
	s := l.Attrs().Statistics
	return Stats{
		TxPackets:  s.TxPackets,
		TxBytes:    s.TxBytes,
		TxErrors:   s.TxErrors + s.TxDropped,
		RxPackets:  s.RxPackets,
		RxBytes:    s.RxBytes,
		RxErrors:   s.RxErrors + s.RxDropped,
		RxChecksum: s.RxCrcErrors,
	}
}

func (t *kernelTunnel) Close() error {
	t.once.Do(func() {
		if err := netns.DeleteLink(t.h, t.name); err != nil {
			t.err = fmt.Errorf("gre %s: close: %w", t.name, err)
		}
		t.h.Close()
	})
	return t.err
}
